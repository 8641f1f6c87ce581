"""The Aggregate API (/api/now/stats): count and avg/min/max/sum per group, computed by the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.database import utcnow
from itsm_ai.records.spec import Action
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.query_sql import where_clause
from itsm_ai.servicenow.record_json import text_pair, value_text
from itsm_ai.servicenow.tables import Binding, check_role, column_of, scope

AGGREGATES = ("avg", "min", "max", "sum")
_NUMERIC = frozenset({Kind.integer, Kind.priority, Kind.mod_count})
_HAVING_OPS = {"=": "__eq__", "!=": "__ne__", ">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__"}


def _aggregate_column(b: Binding, name: str, aggregate: str):
    fd = b.table.field(name)
    if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.active):
        raise SnBadRequest(f"sysparm_{aggregate}_fields: {b.table.name} has no field {name!r}", field=name)
    if aggregate in ("avg", "sum") and fd.kind not in _NUMERIC:
        raise SnBadRequest(f"sysparm_{aggregate}_fields: {name} is not a number", field=name)
    return fd, column_of(b, fd)


def aggregate(
    *,
    db_session: Session,
    b: Binding,
    user: User,
    query_text: str | None,
    params: dict[str, str],
    count: bool,
    fields: dict[str, list[str]],
    group_by: list[str],
    having: str | None,
    order_by: list[str],
    display: str = "false",
) -> Any:
    """ServiceNow's /stats: count and avg/min/max/sum per group, computed by the database; `display`
    (sysparm_display_value) shows the group-by values as stored ("false"), as labels ("true") or both."""
    check_role(b, user, Action.read)
    condition, _order = where_clause(b, query_text, params, utcnow(), db_session, user)
    columns: list[Any] = []
    labels: list[tuple[str, str, FieldDef | None]] = []
    if count or not any(fields.values()):
        columns.append(func.count(b.model.id))
        labels.append(("count", "", None))
    for agg in AGGREGATES:
        for name in fields.get(agg, []):
            fd, column = _aggregate_column(b, name, agg)
            fn = {"avg": func.avg, "min": func.min, "max": func.max, "sum": func.sum}[agg]
            if fd.kind == Kind.mod_count and agg in ("avg", "sum", "min", "max"):
                column = column - 1
                fd = FieldDef(fd.attr, Kind.integer)
            columns.append(fn(column))
            labels.append((agg, name, fd))
    group_defs = []
    for name in group_by:
        fd = b.table.field(name)
        if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.active, Kind.sys_id, Kind.secret):
            raise SnBadRequest(f"sysparm_group_by: {b.table.name} cannot be grouped by {name!r}", field=name)
        group_defs.append((name, fd, column_of(b, fd)))
    stmt = select(*columns, *(c for _, _, c in group_defs)).where(condition, *scope(b, user))
    if group_defs:
        stmt = stmt.group_by(*(c for _, _, c in group_defs))
    if having:
        stmt = stmt.having(_having(b, having))
    if group_defs:
        orders = []
        for item in order_by:
            agg, _, name = item.partition("^")
            if agg.upper() == "COUNT":
                orders.append(
                    func.count(b.model.id).desc() if name.upper() == "DESC" else func.count(b.model.id)
                )
                continue
            match = next((g for g in group_defs if g[0] == agg), None)
            if match is None:
                raise SnBadRequest(f"sysparm_order_by: {item!r} is not a grouped field or COUNT", field=item)
            orders.append(match[2].desc() if name.upper() == "DESC" else match[2])
        stmt = stmt.order_by(*orders, *(c for _, _, c in group_defs))
    rows = db_session.execute(stmt).all()

    def stats(row) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (agg, name, fd), value in zip(labels, row, strict=False):
            if agg == "count":
                out["count"] = str(value or 0)
            else:
                shown = (
                    ""
                    if value is None
                    else value_text(b, fd if agg in ("min", "max") else FieldDef(name, Kind.integer), value)
                )
                out.setdefault(agg, {})[name] = shown
        return out

    if not group_defs:
        return {"stats": stats(rows[0])}
    shown = _group_labels(db_session, b, group_defs, rows, len(labels)) if display != "false" else {}

    def group_field(name: str, fd: FieldDef, value: Any) -> dict[str, str]:
        stored = value_text(b, fd, value)
        if display == "false":
            return {"field": name, "value": stored}
        label = shown[name].get(value, "") if fd.kind == Kind.reference else text_pair(b, name, fd, value)[1]
        if display == "true":
            return {"field": name, "value": label}
        return {"field": name, "value": stored, "display_value": label}

    results = []
    for row in rows:
        grouped = row[len(labels) :]
        results.append(
            {
                "stats": stats(row),
                "groupby_fields": [
                    group_field(name, fd, value)
                    for (name, fd, _), value in zip(group_defs, grouped, strict=True)
                ],
            }
        )
    return results


def _group_labels(db_session: Session, b: Binding, group_defs, rows, first: int) -> dict[str, dict[Any, str]]:
    """The display values of the referenced records the groups stand for: one query per grouped reference."""
    out: dict[str, dict[Any, str]] = {}
    for index, (name, fd, _column) in enumerate(group_defs):
        if fd.kind != Kind.reference:
            continue
        ids = sorted({row[first + index] for row in rows if row[first + index] is not None})
        model, table = b.refs[fd.attr].target, codes.TABLES[fd.target]
        display, key = getattr(model, table.display_attr), getattr(model, table.key_attr)
        found: dict[Any, str] = {}
        if ids:
            for record_id, label, keyed in db_session.execute(
                select(model.id, display, key).where(model.id.in_(ids))
            ):
                found[record_id] = str(label or keyed)
        out[name] = found
    return out


def _having(b: Binding, text: str):
    """sysparm_having: aggregate^field^operator^value (count^*^>^5, avg^impact^<^2)."""
    parts = text.split("^")
    if len(parts) != 4 or parts[2] not in _HAVING_OPS:
        raise SnBadRequest(
            "sysparm_having: write it as aggregate^field^operator^value", field="sysparm_having"
        )
    agg, name, op, raw = parts
    try:
        value = float(raw)
    except ValueError:
        raise SnBadRequest(f"sysparm_having: {raw!r} is not a number", field="sysparm_having") from None
    if agg.lower() == "count":
        expr = func.count(b.model.id)
    elif agg.lower() in AGGREGATES:
        _fd, column = _aggregate_column(b, name, agg.lower())
        expr = {"avg": func.avg, "min": func.min, "max": func.max, "sum": func.sum}[agg.lower()](column)
    else:
        raise SnBadRequest(f"sysparm_having: unknown aggregate {agg!r}", field="sysparm_having")
    return getattr(expr, _HAVING_OPS[op])(value)
