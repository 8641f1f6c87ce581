"""Lists: filter by indexed fields, sort, paginate by offset or keyset cursor, text search, cached totals."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import DateTime, Integer, and_, false, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from itsm_ai.config import get_settings
from itsm_ai.errors import InvalidInputError
from itsm_ai.inputs import DB_INT_MAX, DbInt, UtcDatetime
from itsm_ai.records import counters, fulltext
from itsm_ai.records import rows as rows_module
from itsm_ai.records.spec import RecordSpec

NON_NULL_SORTS = {
    "id",
    "number",
    "opened_at",
    "updated_at",
    "created_at",
    "priority",
    "state",
    "impact",
    "urgency",
}


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None


def query_model(spec: RecordSpec) -> type[BaseModel]:
    """The query-parameter model of a list endpoint: paging, sort, q and one filter per indexed field."""
    max_limit = get_settings().list_max_limit
    # Configuration lists are short and were always answered whole: a page of them is all of them.
    default_limit = max_limit if spec.configuration else 50
    fields: dict[str, Any] = {
        "limit": (int, Field(default=default_limit, ge=1, le=max_limit, description="Page size.")),
        "offset": (
            int,
            Field(default=0, ge=0, le=DB_INT_MAX, description="Rows to skip (ignored with a cursor)."),
        ),
        "cursor": (str | None, Field(default=None, description="next_cursor of the previous page.")),
        "sort": (
            str,
            Field(
                default=spec.default_sort,
                description=f"One of {', '.join(spec.sort_fields)}, or several separated by commas; "
                "'-' for descending.",
            ),
        ),
        "q": (str | None, Field(default=None, max_length=200, description="Text search.")),
    }
    for name, kind in spec.filters.items():
        fields[name] = (
            list[DbInt if kind is int else kind] | None,
            Field(default=None, description=f"Filter on {name} (repeat for any of)."),
        )
    if spec.range_field:
        fields[f"{spec.range_field.removesuffix('_at')}_after"] = (UtcDatetime | None, None)
        fields[f"{spec.range_field.removesuffix('_at')}_before"] = (UtcDatetime | None, None)
    return create_model(f"{spec.model.__name__}ListQuery", __config__=ConfigDict(extra="forbid"), **fields)


def _encode_cursor(sort: str, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps({"s": sort, "v": value, "id": last_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_INT = 2**63 - 1


def _cursor_value(value: Any, column) -> Any:
    """The cursor's sort value checked against the sort column's type: tampered cursors never reach SQL."""
    sql_type = column.type
    sql_type = sql_type.impl if isinstance(sql_type, TypeDecorator) else sql_type
    kind = datetime if isinstance(sql_type, DateTime) else int if isinstance(sql_type, Integer) else str
    if kind is datetime:
        if not isinstance(value, dict) or set(value) != {"dt"} or not isinstance(value["dt"], str):
            raise ValueError("not a time")
        parsed = datetime.fromisoformat(value["dt"])
        if parsed.tzinfo is None:
            raise ValueError("time without a zone")
        return parsed
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INT:
            raise ValueError("not an integer")
        return value
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _decode_cursor(cursor: str, sort: str, column) -> tuple[Any, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, dict) or raw.get("s") != sort:
            raise ValueError("sort changed")
        last_id = raw["id"]
        if isinstance(last_id, bool) or not isinstance(last_id, int) or abs(last_id) > MAX_INT:
            raise ValueError("bad id")
        return _cursor_value(raw["v"], column), last_id
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError("cursor: invalid or from a different sort", field="cursor") from exc


class _TotalCache:
    """Filtered totals keyed by (type, filters), valid while the type's write generation is unchanged."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._data: OrderedDict[tuple, tuple[int, int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, generation: int, ttl: float) -> int | None:
        with self._lock:
            hit = self._data.get(key)
            if hit and hit[0] == generation and time.monotonic() - hit[2] < ttl:
                self._data.move_to_end(key)
                return hit[1]
            return None

    def put(self, key: tuple, generation: int, total: int) -> None:
        with self._lock:
            self._data[key] = (generation, total, time.monotonic())
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


total_cache = _TotalCache()


def like_pattern(term: str) -> str:
    """A LIKE pattern for the term anywhere, % and _ taken literally (escape character: backslash)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def build_conditions(
    *,
    db_session: Session,
    spec: RecordSpec,
    params: BaseModel,
    scope: dict[str, Any] | None = None,
    resolved: dict[str, list[int]] | None = None,
) -> list:
    """WHERE clauses for the filters, ranges, text search and access scope; `resolved` receives the ids
    that reference filters (names, numbers) stood for."""
    from itsm_ai.records.service import resolve_ref

    conds = []
    for name in spec.filters:
        values = getattr(params, name)
        if not values:
            continue
        if name in spec.refs:
            ids = []
            for v in values:
                try:
                    ids.append(resolve_ref(db_session=db_session, spec=spec, field=name, value=str(v)))
                except InvalidInputError:
                    continue  # an unknown name filters to nothing rather than failing
            column = spec.column(spec.refs[name].fk)
            conds.append(column.in_(ids) if ids else false())
            if resolved is not None:
                resolved[name] = sorted(set(ids))
        else:
            column = spec.column(spec.extra_filter_columns.get(name, name))
            values = [v.value if hasattr(v, "value") else v for v in values]
            conds.append(column == values[0] if len(values) == 1 else column.in_(values))
    if spec.range_field:
        base = spec.range_field.removesuffix("_at")
        after, before = getattr(params, f"{base}_after"), getattr(params, f"{base}_before")
        column = spec.column(spec.range_field)
        bounds = ((f"{base}_after", after, column.__ge__), (f"{base}_before", before, column.__lt__))
        for name, bound, op in bounds:
            if bound is not None:
                if bound.tzinfo is None:
                    raise InvalidInputError(f"{name}: give a time zone (e.g. Z)", field=name)
                conds.append(op(bound))
    if params.q:
        conds.append(search_condition(db_session=db_session, spec=spec, q=params.q))
    for attr, value in (scope or {}).items():
        conds.append(spec.column(attr) == value)
    return conds



def search_condition(*, db_session: Session, spec: RecordSpec, q: str):
    """The `q` condition: the full-text index for words, a LIKE substring search otherwise, or the number."""
    term = q.strip()
    terms = fulltext.words(term) if spec.fulltext else None
    if terms:
        dialect = db_session.get_bind().dialect.name
        rows, _ = counters.read(db_session=db_session, record_type=spec.record_type)
        common = fulltext.is_common(db_session=db_session, model=spec.model, terms=terms, rows=rows)
        match = fulltext.match(
            dialect=dialect, model=spec.model, fields=spec.search_fields, terms=terms, common=common
        )
        options = [match]
    else:
        options = [spec.column(f).ilike(like_pattern(term), escape="\\") for f in spec.search_fields]
    if spec.prefix is not None:
        options.append(spec.model.number == term.upper())
    return or_(*options)

def _sort_keys(spec: RecordSpec, sort: str) -> list[tuple[str, bool]]:
    """(field, descending) for each comma-separated sort field, or 422 naming `sort`."""
    keys = []
    for part in sort.split(","):
        name = part.strip().lstrip("-+")
        if name not in spec.sort_fields:
            raise InvalidInputError(f"sort: must be one of {', '.join(spec.sort_fields)}", field="sort")
        keys.append((name, part.strip().startswith("-")))
    return keys


def list_records(
    *, db_session: Session, spec: RecordSpec, params: BaseModel, scope: dict[str, Any] | None = None
) -> Page:
    """One page of records with the total; the total is O(1) unfiltered and cached per write generation."""
    from itsm_ai.records.service import serialize

    sort = params.sort
    keys = _sort_keys(spec, sort)
    resolved: dict[str, list[int]] = {}
    conds = build_conditions(db_session=db_session, spec=spec, params=params, scope=scope, resolved=resolved)
    total = _total(
        db_session=db_session, spec=spec, params=params, scope=scope, conds=conds, resolved=resolved
    )

    id_col = spec.model.id
    sort_name, desc = keys[0]
    sort_col = spec.column(sort_name)
    reader = rows_module.reader_for(spec)
    # The fast path selects only the page's keys here and reads the shown columns of those rows afterwards,
    # so an offset or a filter never joins references for rows that are skipped.
    stmt = select(id_col, sort_col) if reader is not None else select(spec.model)
    if params.cursor:
        if len(keys) > 1 or sort_name not in NON_NULL_SORTS:
            raise InvalidInputError(f"cursor: not available when sorting by {sort}", field="cursor")
        value, last_id = _decode_cursor(params.cursor, sort, sort_col)
        # The extra range bound lets the index seek straight to the page instead of scanning from the start.
        if desc:
            conds.append(and_(sort_col <= value, or_(sort_col < value, id_col < last_id)))
        else:
            conds.append(and_(sort_col >= value, or_(sort_col > value, id_col > last_id)))
    if conds:
        stmt = stmt.where(*conds)
    order = [spec.column(name).desc() if d else spec.column(name).asc() for name, d in keys]
    order.append(id_col.desc() if desc else id_col.asc())
    stmt = stmt.order_by(*order).limit(params.limit)
    offset = 0 if params.cursor else params.offset
    if offset:
        stmt = stmt.offset(offset)
    if reader is not None:
        page_keys = db_session.execute(stmt).all()
        items = reader.read(db_session=db_session, ids=[k[0] for k in page_keys])
        last_key = (page_keys[-1][1], page_keys[-1][0]) if page_keys else None
    else:
        objs = list(db_session.scalars(stmt).unique())
        items = [serialize(spec, r) for r in objs]
        page_keys = objs
        last_key = (getattr(objs[-1], sort_name), objs[-1].id) if objs else None

    next_cursor = None
    if len(page_keys) == params.limit and len(keys) == 1 and sort_name in NON_NULL_SORTS:
        next_cursor = _encode_cursor(sort, *last_key)
    return Page(
        items=items,
        total=total,
        limit=params.limit,
        offset=offset,
        next_cursor=next_cursor,
    )


def _total(
    *,
    db_session: Session,
    spec: RecordSpec,
    params: BaseModel,
    scope: dict[str, Any] | None,
    conds: list,
    resolved: dict[str, list[int]],
) -> int:
    row_count, generation = counters.read(db_session=db_session, record_type=spec.record_type)
    filter_values = {
        k: v
        for k, v in params.model_dump(exclude={"limit", "offset", "cursor", "sort"}).items()
        if v not in (None, [])
    }
    if not filter_values and not scope:
        return row_count
    # Keyed by the ids a name or number stood for, not the name: renaming or deleting a group or problem
    # changes what the name means without a write to this record type.
    filter_values.update(resolved)
    key = (
        spec.record_type,
        json.dumps(filter_values, default=str, sort_keys=True),
        json.dumps(scope, sort_keys=True, default=str),
    )
    ttl = get_settings().total_cache_seconds
    cached = total_cache.get(key, generation, ttl)
    if cached is not None:
        return cached
    total = db_session.scalar(select(func.count()).select_from(spec.model).where(*conds)) or 0
    total_cache.put(key, generation, total)
    return total
