"""The ServiceNow Table API over our store: encoded queries compiled to SQL, records in ServiceNow's JSON,
and writes through the records service (so audit, the engine's hooks, events and reports run as for the
native API).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import String, and_, cast, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from itsm_ai.auth import service as auth_service
from itsm_ai.auth.models import User, UserCreate, UserUpdate
from itsm_ai.base import spec_registry
from itsm_ai.base.roles import ADMINS, READERS, STAFF, Role
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import Comment, CommentCreate, Visibility
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from itsm_ai.records import counters
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import total_cache
from itsm_ai.records.spec import Action, RecordSpec, Ref
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind, TableDef
from itsm_ai.servicenow.query import Condition, QuerySyntaxError, parse, relative_date

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10_000
# Fields of the task tables whose display value is a level label.
_LEVEL_FIELDS = frozenset({"impact", "urgency"})


class SnBadRequest(InvalidInputError):
    """Bad input in ServiceNow's terms (400)."""

    status_code = 400


@dataclass(frozen=True)
class Binding:
    """A ServiceNow table bound to our model, its spec (None for users and journal entries) and references."""

    table: TableDef
    model: type
    spec: RecordSpec | None
    refs: dict[str, Ref]


_OWN_REFS = {
    "comment": {"author": Ref("author_id", "author_ref", User, "username", "user")},
}
_MODELS = {"user": User, "comment": Comment}


def binding(table_name: str) -> Binding:
    """The binding of a ServiceNow table; 400 "Invalid table" for tables we do not serve."""
    table = codes.TABLES.get(table_name)
    if table is None:
        raise SnBadRequest(f"Invalid table {table_name}", field="table")
    spec = spec_registry.find(table.record_type)
    if table.record_type in _MODELS:
        return Binding(table, _MODELS[table.record_type], None, dict(_OWN_REFS.get(table.record_type, {})))
    return Binding(table, spec.model, spec, dict(spec.refs))


# ------------------------------------------------------------------------------------------- access

_USER_ACCESS = {
    Action.read: frozenset(Role),
    Action.create: ADMINS,
    Action.update: ADMINS,
    Action.delete: frozenset(),
}
_JOURNAL_ACCESS = {
    Action.read: READERS | {Role.requester},
    Action.create: STAFF | {Role.requester},
    Action.update: frozenset(),
    Action.delete: frozenset(),
}


def check_role(b: Binding, user: User, action: str) -> None:
    """403 unless the user's role may perform the action on this table at all."""
    if b.spec is not None:
        b.spec.access.check(user, action, noun=b.spec.noun)
        return
    roles = (_USER_ACCESS if b.table.record_type == "user" else _JOURNAL_ACCESS)[action]
    if user.role not in roles:
        raise PermissionDeniedError(f"your role ({user.role}) may not {action} {b.table.name} records")


def _owned_ids(record_type: str, user: User):
    spec = spec_registry.get(record_type)
    return select(spec.model.id).where(getattr(spec.model, spec.access.owner_attr) == user.id)


def scope(b: Binding, user: User) -> list[Any]:
    """SQL conditions limiting a requester to what the native API shows them (their own tickets, published
    articles, themselves, the public comments on their own tickets)."""
    if b.table.record_type == "user":
        # As the native API: staff list users, everyone else sees only themselves (/users/me).
        return [] if user.role in STAFF else [User.id == user.id]
    if user.role != Role.requester:
        return []
    if b.spec is not None:
        access = b.spec.access
        if access.owner_attr:
            return [getattr(b.model, access.owner_attr) == user.id]
        if access.requester_scope:
            return [getattr(b.model, k) == v for k, v in access.requester_scope.items()]
        return []
    owned = [
        and_(Comment.record_type == rt, Comment.record_id.in_(_owned_ids(rt, user)))
        for rt in ("incident", "service_request")
    ]
    return [Comment.visibility == Visibility.public, or_(*owned)]


# ------------------------------------------------------------------------------------------- queries


class _NoMatch(Exception):
    """A value no record can have (an unknown state code, another table's sys_id)."""


def _bad(field: str, message: str) -> SnBadRequest:
    return SnBadRequest(f"sysparm_query: {field}: {message}", field=field)


def _convert(b: Binding, name: str, fd: FieldDef, raw: str, now: datetime) -> Any:
    """A query value as our attribute holds it; _NoMatch when nothing can match it."""
    text = raw.strip()
    if fd.kind in (Kind.integer, Kind.mod_count):
        try:
            number = int(text)
        except ValueError:
            raise _bad(name, f"{raw!r} is not a whole number") from None
        return number + 1 if fd.kind == Kind.mod_count else number
    if fd.kind in (Kind.boolean, Kind.active):
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise _bad(name, f"{raw!r} is not true or false")
    if fd.kind == Kind.datetime:
        try:
            value = relative_date(text, now=now)
            return value if value is not None else codes.parse_datetime(text)
        except QuerySyntaxError:
            raise
        except ValueError:
            raise _bad(name, f"{raw!r} is not a date (YYYY-MM-DD HH:MM:SS)") from None
    if fd.kind == Kind.state:
        state = b.table.state_name(text)
        if state is None:
            raise _NoMatch
        return state
    if fd.kind == Kind.priority:
        try:
            ours = codes.priority_from_sn(text)
        except ValueError:
            raise _bad(name, f"{raw!r} is not a priority 1-5") from None
        if ours is None:
            raise _NoMatch
        return ours
    if fd.kind == Kind.sys_id:
        record_id = codes.decode_sys_id(text, b.table.record_type)
        if record_id is None:
            raise _NoMatch
        return record_id
    if fd.kind == Kind.table_name:
        table = codes.TABLES.get(text)
        if table is None:
            raise _NoMatch
        return table.record_type
    return raw


_NEGATIVE = frozenset({"!=", "NOT IN", "NOTLIKE"})


def _like(column, op: str, value: str):
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = {"STARTSWITH": f"{escaped}%", "ENDSWITH": f"%{escaped}"}.get(op, f"%{escaped}%")
    return column.ilike(pattern, escape="\\")


def _compare(b: Binding, name: str, fd: FieldDef, column, cond: Condition, now: datetime):
    """The SQL condition for one operator on a plain column."""
    op = cond.operator
    textual = fd.kind == Kind.text
    if op == "ANYTHING":
        return true()
    if op in ("ISEMPTY", "ISNOTEMPTY") or (op in ("=", "!=") and cond.value == ""):
        empty = or_(column.is_(None), column == "") if textual else column.is_(None)
        return empty if op in ("ISEMPTY", "=") else not_(empty)
    if op in ("LIKE", "NOTLIKE", "STARTSWITH", "ENDSWITH"):
        target = column if textual else cast(column, String)
        expr = _like(target, op, cond.value)
        return or_(not_(expr), column.is_(None)) if op == "NOTLIKE" else expr
    if op in ("IN", "NOT IN"):
        values = []
        for raw in cond.values:
            try:
                values.append(_convert(b, name, fd, raw, now))
            except _NoMatch:
                pass
        if op == "IN":
            return column.in_(values) if values else false()
        return or_(column.not_in(values), column.is_(None)) if values else true()
    if op == "BETWEEN":
        low, high = (_convert(b, name, fd, v, now) for v in cond.values)
        return and_(column >= low, column <= high)
    try:
        value = _convert(b, name, fd, cond.value, now)
    except _NoMatch:
        return true() if op == "!=" else false()
    expr = {
        "=": lambda: column == value,
        "!=": lambda: or_(column != value, column.is_(None)),
        ">": lambda: column > value,
        ">=": lambda: column >= value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
    }[op]()
    return expr


def _column(b: Binding, fd: FieldDef):
    if fd.kind == Kind.reference:
        return getattr(b.model, b.refs[fd.attr].fk)
    return getattr(b.model, fd.attr)


# References named by key or walked to are resolved to the target ids first (users, groups, problems: small
# tables), as the native filters resolve names: `fk IN (ids)` lets the planner use the (fk, opened_at) index,
# where SQLite would scan in date order testing a sub-select per row. Many ids keep the sub-select.
RESOLVE_MAX = 1000


def _reference(
    b: Binding, name: str, fd: FieldDef, cond: Condition, now: datetime, sub: str | None, db_session
):
    """A condition on a reference: by sys_id on the foreign key, else on the target's fields (dot-walked, or
    its display value) through a sub-select, never in Python."""
    fk = getattr(b.model, b.refs[fd.attr].fk)
    target = binding(fd.target)
    op = cond.operator
    if sub is None:
        if op in ("ISEMPTY", "ISNOTEMPTY") or (op in ("=", "!=") and cond.value == ""):
            return fk.is_(None) if op in ("ISEMPTY", "=") else fk.is_not(None)
        values = cond.values if op in ("IN", "NOT IN") else [cond.value]
        if op in ("=", "!=", "IN", "NOT IN") and values and all(codes.looks_like_sys_id(v) for v in values):
            ids = [codes.decode_sys_id(v, target.table.record_type) for v in values]
            ids = [i for i in ids if i is not None]
            if op in ("=", "IN"):
                return fk.in_(ids) if ids else false()
            return or_(fk.not_in(ids), fk.is_(None)) if ids else true()
        key, display = target.table.key_attr, target.table.display_attr
        positive = Condition(key, _POSITIVE.get(op, op), cond.value)
        inner = or_(
            _compare(target, key, FieldDef(key), getattr(target.model, key), positive, now),
            _compare(target, display, FieldDef(display), getattr(target.model, display), positive, now),
        )
    else:
        sub_fd = target.table.field(sub)
        if sub_fd is None or sub_fd.kind in (Kind.reference, Kind.journal):
            raise _bad(f"{name}.{sub}", f"{fd.target} has no field {sub!r} to dot-walk to")
        positive = Condition(sub, _POSITIVE.get(op, op), cond.value)
        inner = _compare(target, sub, sub_fd, _column(target, sub_fd), positive, now)
    matching = fk.in_(select(target.model.id).where(inner))
    if db_session is not None:
        ids = list(db_session.scalars(select(target.model.id).where(inner).limit(RESOLVE_MAX + 1)))
        if len(ids) <= RESOLVE_MAX:
            matching = fk.in_(ids) if ids else false()
    if op == "ISEMPTY":
        return or_(matching, fk.is_(None))  # no reference: the walked-to field is empty too
    return or_(not_(matching), fk.is_(None)) if op in _NEGATIVE else matching


_POSITIVE = {"!=": "=", "NOT IN": "IN", "NOTLIKE": "LIKE"}


def compile_condition(b: Binding, cond: Condition, now: datetime, db_session: Session | None = None):
    """One encoded-query condition as a SQL expression on the binding's model."""
    name, _, sub = cond.field.partition(".")
    fd = b.table.field(name)
    if fd is None:
        raise _bad(cond.field, f"{b.table.name} has no field {name!r}")
    if fd.kind == Kind.journal:
        raise _bad(name, "journal fields cannot be queried; query sys_journal_field")
    if fd.kind == Kind.secret:
        raise _bad(name, "this field cannot be queried")
    if fd.kind == Kind.reference:
        return _reference(b, name, fd, cond, now, sub or None, db_session)
    if sub:
        raise _bad(cond.field, f"{name} is not a reference, so it cannot be dot-walked")
    if fd.kind == Kind.active:
        if cond.operator not in ("=", "!="):
            raise _bad(name, f"the operator {cond.operator} is not supported on active")
        wanted = _convert(b, name, fd, cond.value, now) == (cond.operator == "=")
        final = list(b.table.final_states)
        return b.model.state.not_in(final) if wanted else b.model.state.in_(final)
    if fd.kind == Kind.element_id:
        return _element_id(cond)
    textual_ops = ("LIKE", "NOTLIKE", "STARTSWITH", "ENDSWITH")
    if cond.operator in textual_ops and fd.kind not in (Kind.text, Kind.integer):
        raise _bad(name, f"the operator {cond.operator} is not supported on a {fd.kind} field")
    return _compare(b, name, fd, _column(b, fd), cond, now)


def _element_id(cond: Condition):
    """sys_journal_field.element_id: the sys_id of any ticket, so (record_type, record_id) both match."""
    if cond.operator not in ("=", "IN", "!=", "NOT IN"):
        raise _bad("element_id", f"the operator {cond.operator} is not supported")
    values = cond.values if cond.operator in ("IN", "NOT IN") else [cond.value]
    pairs = []
    for value in values:
        for record_type in codes.TABLE_OF_RECORD_TYPE:
            record_id = codes.decode_sys_id(value, record_type)
            if record_id is not None:
                pairs.append(and_(Comment.record_type == record_type, Comment.record_id == record_id))
    matching = or_(*pairs) if pairs else false()
    return not_(matching) if cond.operator in _NEGATIVE else matching


def where_clause(
    b: Binding,
    query_text: str | None,
    params: dict[str, str],
    now: datetime,
    db_session: Session | None = None,
):
    """(SQL condition, ORDER BY list) for an encoded query plus plain field=value parameters."""
    try:
        query = parse(query_text)
    except QuerySyntaxError as exc:
        raise SnBadRequest(str(exc), field="sysparm_query") from None
    alternatives = []
    try:
        for alternative in query.alternatives:
            groups = [
                or_(*(compile_condition(b, c, now, db_session) for c in group)) for group in alternative
            ]
            alternatives.append(and_(*groups))
        plain = [compile_condition(b, Condition(k, "=", v), now, db_session) for k, v in params.items()]
    except QuerySyntaxError as exc:
        raise SnBadRequest(str(exc), field="sysparm_query") from None
    condition = and_(or_(*alternatives) if alternatives else true(), *plain)
    order = []
    for field_name, desc in query.order:
        fd = b.table.field(field_name.partition(".")[0])
        if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.table_name):
            raise _bad(field_name, f"{b.table.name} cannot be ordered by {field_name!r}")
        column = _column(b, fd) if fd.kind != Kind.active else b.model.state
        order.append(column.desc() if desc else column.asc())
    id_order = b.model.id.desc() if query.order and query.order[-1][1] else b.model.id.asc()
    # The id breaks ties, so offset paging never skips or repeats a row.
    return condition, [*order, id_order]


def list_records(
    *,
    db_session: Session,
    b: Binding,
    user: User,
    query_text: str | None,
    params: dict[str, str],
    limit: int,
    offset: int,
    count: bool = True,
) -> tuple[list[Any], int | None]:
    """A page of records matching the query, in the caller's scope, and the total (None unless counted)."""
    check_role(b, user, Action.read)
    condition, order = where_clause(b, query_text, params, utcnow(), db_session)
    conditions = [condition, *scope(b, user)]
    stmt = select(b.model).where(*conditions).order_by(*order).limit(limit).offset(offset)
    rows = list(db_session.scalars(stmt).unique())
    total = None
    if count:
        total = _total(db_session, b, user, query_text, params, conditions)
    return rows, total


def _total(db_session: Session, b: Binding, user: User, query_text, params, conditions) -> int:
    """The number of matching records: O(1) unfiltered and cached per write generation, as the native lists
    (pysnc and offset-paging integrations ask for it on every page)."""
    scoped = bool(scope(b, user))
    if b.spec is None or (query_text and "javascript:" in query_text):
        return db_session.scalar(select(func.count()).select_from(b.model).where(*conditions)) or 0
    row_count, generation = counters.read(db_session=db_session, record_type=b.spec.record_type)
    if not scoped and not params and not parse(query_text).alternatives:
        return row_count
    key = (
        b.spec.record_type,
        "servicenow",
        query_text or "",
        tuple(sorted(params.items())),
        user.id if scoped else None,
    )
    ttl = get_settings().total_cache_seconds
    cached = total_cache.get(key, generation, ttl)
    if cached is not None:
        return cached
    total = db_session.scalar(select(func.count()).select_from(b.model).where(*conditions)) or 0
    total_cache.put(key, generation, total)
    return total


def get_record(*, db_session: Session, b: Binding, user: User, sys_id: str, action: str = Action.read) -> Any:
    """The record with this sys_id if the user may act on it; 404 for unknown ones and others' records."""
    check_role(b, user, action)
    record_id = codes.decode_sys_id(sys_id, b.table.record_type)
    obj = db_session.get(b.model, record_id) if record_id is not None else None
    if obj is not None and (user.role == Role.requester or b.table.record_type == "user"):
        visible = select(b.model.id).where(b.model.id == obj.id, *scope(b, user))
        if db_session.scalar(visible) is None:
            obj = None
    if obj is None:
        raise NotFoundError(f"No Record found: {b.table.name} {sys_id} does not exist or you cannot read it")
    return obj


# ------------------------------------------------------------------------------------------- JSON


@dataclass(frozen=True)
class Shape:
    """How records are shown: sysparm_display_value, sysparm_exclude_reference_link and the base URL."""

    display: str = "false"  # "false" | "true" | "all"
    exclude_link: bool = False
    base_url: str = ""

    def link(self, table: str, sys_id: str) -> str:
        """The Table API address of a record."""
        return f"{self.base_url}/api/now/table/{table}/{sys_id}"


def _plain(b: Binding, name: str, fd: FieldDef, obj: Any) -> tuple[str, str]:
    """(value, display value) of a non-reference field."""
    if fd.kind == Kind.sys_id:
        value = codes.encode_sys_id(b.table.record_type, obj.id)
        return value, value
    if fd.kind in (Kind.journal, Kind.secret):
        return "", ""
    raw = getattr(obj, fd.attr, None)
    if fd.kind == Kind.state:
        return b.table.state_code(raw), b.table.state_label(raw)
    if fd.kind == Kind.priority:
        if raw is None:
            return "", ""
        code = codes.PRIORITY_TO_SN[raw]
        return str(code), codes.PRIORITY_LABELS[code]
    if fd.kind == Kind.active:
        active = "true" if raw not in b.table.final_states else "false"
        return active, active
    if fd.kind == Kind.mod_count:
        return str((raw or 1) - 1), str((raw or 1) - 1)
    if fd.kind == Kind.element_id:
        value = codes.encode_sys_id(obj.record_type, obj.record_id)
        return value, value
    if fd.kind == Kind.table_name:
        table = codes.TABLE_OF_RECORD_TYPE.get(raw, raw)
        return table, table
    if fd.kind == Kind.datetime:
        text = codes.format_datetime(raw)
        return text, text
    if fd.kind == Kind.boolean:
        text = "" if raw is None else ("true" if raw else "false")
        return text, text
    if raw is None:
        return "", ""
    if name == "element":
        element = "work_notes" if raw == Visibility.internal else "comments"
        return element, element
    if name in _LEVEL_FIELDS:
        return str(raw), codes.LEVEL_LABELS.get(raw, str(raw))
    text = raw.value if hasattr(raw, "value") else str(raw)
    return text, text


def _shown(value: str, display: str, shape: Shape, link: str | None) -> Any:
    if shape.display == "all":
        out: dict[str, Any] = {"display_value": display, "value": value}
    elif shape.display == "true":
        out = {"display_value": display}
    else:
        out = {"value": value}
    if link and not shape.exclude_link:
        out["link"] = link
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _getter(b: Binding, name: str, fd: FieldDef) -> Callable[[Any], tuple[str, str, str | None]]:
    """A function giving one field's (value, display value, referenced table or None) for a record; built
    once per table and field, since a page of 10,000 rows reads each field 10,000 times."""
    attr = fd.attr
    if fd.kind == Kind.reference:
        rel, table = b.refs[attr].rel, codes.TABLES[fd.target]
        tag_type, display_attr, key_attr, target_name = (
            table.record_type,
            table.display_attr,
            table.key_attr,
            fd.target,
        )

        def reference(obj: Any) -> tuple[str, str, str | None]:
            target = getattr(obj, rel)
            if target is None:
                return "", "", None
            display = getattr(target, display_attr, None) or getattr(target, key_attr)
            return codes.encode_sys_id(tag_type, target.id), str(display), target_name

        return reference
    if fd.kind == Kind.text and name not in _LEVEL_FIELDS and name != "element":

        def text(obj: Any) -> tuple[str, str, None]:
            raw = getattr(obj, attr)
            shown = "" if raw is None else (raw.value if hasattr(raw, "value") else str(raw))
            return shown, shown, None

        return text
    if fd.kind == Kind.datetime:

        def when(obj: Any) -> tuple[str, str, None]:
            shown = codes.format_datetime(getattr(obj, attr))
            return shown, shown, None

        return when

    def other(obj: Any) -> tuple[str, str, None]:
        value, display = _plain(b, name, fd, obj)
        return value, display, None

    return other


_PLANS: dict[tuple[str, tuple[str, ...] | None], list[tuple[str, Callable]]] = {}


def _plan(b: Binding, fields: list[str] | None) -> list[tuple[str, Callable]]:
    key = (b.table.name, tuple(fields) if fields else None)
    plan = _PLANS.get(key)
    if plan is None:
        names = fields or list(b.table.fields)
        plan = [(n, _getter(b, n, b.table.fields[n])) for n in names if n in b.table.fields]
        if len(_PLANS) < 4096:  # sysparm_fields come from clients: bound what is kept
            _PLANS[key] = plan
    return plan


def to_json(b: Binding, obj: Any, shape: Shape, fields: list[str] | None = None) -> dict[str, Any]:
    """One record in ServiceNow's Table API JSON."""
    out: dict[str, Any] = {}
    display, with_links = shape.display, not shape.exclude_link
    for name, get in _plan(b, fields):
        value, shown, target = get(obj)
        link = shape.link(target, value) if target is not None and with_links else None
        if display == "false" and link is None:
            out[name] = value
        elif display == "true" and link is None:
            out[name] = shown
        else:
            out[name] = _shown(value, shown, shape, link)
    return out


# ------------------------------------------------------------------------------------------- writes


def _input_value(value: Any) -> Any:
    # Clients send a plain value, or the {"value": ..., "display_value": ...} they read.
    if isinstance(value, dict):
        return value.get("value", value.get("display_value"))
    return value


def _write_value(db_session: Session, b: Binding, name: str, fd: FieldDef, raw: Any) -> Any:
    """A written ServiceNow value as our input field holds it; 400 naming the field when it cannot be."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        if fd.kind == Kind.integer:
            return int(text.split("-")[0].strip())
        if fd.kind == Kind.boolean:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if fd.kind == Kind.datetime:
            return codes.parse_datetime(text)
    except ValueError:
        raise SnBadRequest(f"{name}: invalid value {raw!r}", field=name) from None
    if fd.kind == Kind.state:
        state = b.table.state_name(text)
        if state is None:
            codes_list = ", ".join(f"{v} ({k})" for k, v in b.table.states.items())
            raise SnBadRequest(f"state: {raw!r} is not a state of {b.table.name}: {codes_list}", field=name)
        return state
    if fd.kind == Kind.reference:
        target = codes.TABLES[fd.target]
        ref = b.refs[fd.attr]
        if codes.looks_like_sys_id(text):
            record_id = codes.decode_sys_id(text, target.record_type)
            key = (
                db_session.scalar(select(getattr(ref.target, ref.key)).where(ref.target.id == record_id))
                if record_id is not None
                else None
            )
            if key is None:
                raise SnBadRequest(f"{name}: no {fd.target} record with sys_id {text}", field=name)
            return key
        return text
    return str(raw)


def input_data(
    db_session: Session, b: Binding, body: Any
) -> tuple[dict[str, Any], list[tuple[str, str]], dict[str, str]]:
    """Our input values from a ServiceNow body (unknown and read-only fields ignored, as ServiceNow does),
    the journal entries to add, and our field name -> ServiceNow name for error messages."""
    if not isinstance(body, dict):
        raise SnBadRequest("the request body must be a JSON object of field names and values", field="body")
    data: dict[str, Any] = {}
    journal: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    for name, value in body.items():
        fd = b.table.field(name)
        if fd is None or not fd.writable:
            continue
        raw = _input_value(value)
        if fd.kind == Kind.journal:
            if raw not in (None, ""):
                journal.append((fd.attr, str(raw)))
            continue
        data[fd.attr] = _write_value(db_session, b, name, fd, raw)
        names[fd.attr] = name
    return data, journal, names


def _validated(schema: type[BaseModel], data: dict[str, Any], names: dict[str, str], **kw) -> BaseModel:
    try:
        return schema.model_validate({**data, **kw})
    except ValidationError as exc:
        first = exc.errors()[0]
        ours = str(first["loc"][0]) if first.get("loc") else "body"
        field = names.get(ours, ours)
        messages = "; ".join(
            f"{names.get(str(e['loc'][0]), e['loc'][0]) if e.get('loc') else 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        raise SnBadRequest(messages, field=field) from None


def _add_journal(
    db_session: Session, b: Binding, obj: Any, journal: list[tuple[str, str]], user: User
) -> None:
    for visibility, text in journal:
        b.spec.access.check(user, Action.comment, obj, noun=b.spec.noun)
        comment_service.add(
            db_session=db_session,
            spec=b.spec,
            obj=obj,
            comment_in=CommentCreate(body=text, visibility=Visibility(visibility)),
            actor=user,
        )


def create(*, db_session: Session, b: Binding, user: User, body: Any) -> Any:
    """Insert a record from a ServiceNow body; returns the new record."""
    check_role(b, user, Action.create)
    if b.table.record_type == "comment":
        return _create_journal_entry(db_session, user, body)
    if b.table.record_type == "user":
        data, _journal, names = input_data(db_session, b, body)
        data = {k: v for k, v in data.items() if v is not None}
        user_in = _validated(UserCreate, data, names)
        return auth_service.create(db_session=db_session, user_in=user_in, actor=user)
    if b.spec is None:
        raise PermissionDeniedError(f"{b.table.name} records cannot be created through this API")
    data, journal, names = input_data(db_session, b, body)
    data = {k: v for k, v in data.items() if v is not None}
    model = _validated(b.spec.create_schema, data, names)
    values = model.model_dump()
    if user.role == Role.requester and b.spec.requester_create_filter is not None:
        b.spec.requester_create_filter(user, values, b.spec.create_schema)
    obj = record_service.create(db_session=db_session, spec=b.spec, data=values, actor=user)
    _add_journal(db_session, b, obj, journal, user)
    return obj


def update(*, db_session: Session, b: Binding, user: User, obj: Any, body: Any) -> Any:
    """Apply a ServiceNow PUT/PATCH body (last writer wins, as in ServiceNow); returns the record."""
    if b.table.record_type == "user":
        data, _journal, names = input_data(db_session, b, body)
        data.pop("username", None)  # a user's name is their key, as on the native API
        user_in = _validated(UserUpdate, data, names, version=obj.version)
        return auth_service.update(db_session=db_session, user=obj, user_in=user_in, actor=user)
    if b.spec is None:
        raise PermissionDeniedError(f"{b.table.name} records cannot be changed through this API")
    data, journal, names = input_data(db_session, b, body)
    if data:
        fields = b.spec.update_schema.model_fields
        unknown = [k for k in data if k not in fields]
        for key in unknown:
            data.pop(key)  # writable on create only (ServiceNow ignores what it cannot write)
        model = _validated(b.spec.update_schema, data, names, version=obj.version)
        changes = model.model_dump(exclude_unset=True)
        obj = record_service.update(db_session=db_session, spec=b.spec, obj=obj, data=changes, actor=user)
    _add_journal(db_session, b, obj, journal, user)
    return obj


def delete(*, db_session: Session, b: Binding, user: User, obj: Any) -> None:
    """Delete a record through the records service (its hooks may refuse)."""
    if b.spec is None:
        raise PermissionDeniedError(f"{b.table.name} records cannot be deleted through this API")
    record_service.delete(db_session=db_session, spec=b.spec, obj=obj, actor=user)


def ticket_by_sys_id(*, db_session: Session, sys_id: str) -> tuple[RecordSpec, Any] | None:
    """(spec, record) of any ticket, article or CI with this sys_id, or None."""
    for record_type in codes.TABLE_OF_RECORD_TYPE:
        record_id = codes.decode_sys_id(sys_id, record_type)
        spec = spec_registry.find(record_type)
        if record_id is not None and spec is not None and record_type not in _MODELS:
            obj = db_session.get(spec.model, record_id)
            return (spec, obj) if obj is not None else None
    return None


def _create_journal_entry(db_session: Session, user: User, body: Any) -> Comment:
    if not isinstance(body, dict):
        raise SnBadRequest("the request body must be a JSON object of field names and values", field="body")
    element = str(_input_value(body.get("element")) or "comments")
    if element not in codes.JOURNAL_ELEMENTS:
        raise SnBadRequest("element: must be comments or work_notes", field="element")
    text = _input_value(body.get("value"))
    if not text or not str(text).strip():
        raise SnBadRequest("value: the comment text is required", field="value")
    found = ticket_by_sys_id(db_session=db_session, sys_id=str(_input_value(body.get("element_id")) or ""))
    if found is None:
        raise SnBadRequest("element_id: no ticket with this sys_id", field="element_id")
    spec, obj = found
    spec.access.check(user, Action.comment, obj, noun=spec.noun)
    read = comment_service.add(
        db_session=db_session,
        spec=spec,
        obj=obj,
        comment_in=CommentCreate(body=str(text), visibility=Visibility(codes.JOURNAL_ELEMENTS[element])),
        actor=user,
    )
    return db_session.get(Comment, read.id)


# ------------------------------------------------------------------------------------------- Aggregate API

AGGREGATES = ("avg", "min", "max", "sum")
_NUMERIC = frozenset({Kind.integer, Kind.priority, Kind.mod_count})
_HAVING_OPS = {"=": "__eq__", "!=": "__ne__", ">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__"}


def _aggregate_column(b: Binding, name: str, aggregate: str):
    fd = b.table.field(name)
    if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.active):
        raise SnBadRequest(f"sysparm_{aggregate}_fields: {b.table.name} has no field {name!r}", field=name)
    if aggregate in ("avg", "sum") and fd.kind not in _NUMERIC:
        raise SnBadRequest(f"sysparm_{aggregate}_fields: {name} is not a number", field=name)
    return fd, _column(b, fd)


def _raw_value(b: Binding, fd: FieldDef, raw: Any) -> str:
    """A grouped or aggregated column value in ServiceNow's text."""
    if raw is None:
        return ""
    if fd.kind == Kind.state:
        return b.table.state_code(raw)
    if fd.kind == Kind.reference:
        return codes.encode_sys_id(codes.TABLES[fd.target].record_type, raw)
    if fd.kind == Kind.priority:
        return str(codes.PRIORITY_TO_SN.get(raw, raw))
    if fd.kind == Kind.mod_count:
        return str(raw - 1)
    if fd.kind == Kind.datetime:
        return codes.format_datetime(raw)
    if fd.kind == Kind.boolean:
        return "true" if raw else "false"
    if isinstance(raw, Decimal):
        raw = float(raw)
    if isinstance(raw, float):
        return f"{raw:.4f}".rstrip("0").rstrip(".") if raw != int(raw) else str(int(raw))
    return raw.value if hasattr(raw, "value") else str(raw)


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
) -> Any:
    """ServiceNow's /stats: count and avg/min/max/sum per group, computed by the database."""
    check_role(b, user, Action.read)
    condition, _order = where_clause(b, query_text, params, utcnow(), db_session)
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
        if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.active, Kind.sys_id):
            raise SnBadRequest(f"sysparm_group_by: {b.table.name} cannot be grouped by {name!r}", field=name)
        group_defs.append((name, fd, _column(b, fd)))
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
                    else _raw_value(b, fd if agg in ("min", "max") else FieldDef(name, Kind.integer), value)
                )
                out.setdefault(agg, {})[name] = shown
        return out

    if not group_defs:
        return {"stats": stats(rows[0])}
    results = []
    for row in rows:
        grouped = row[len(labels) :]
        results.append(
            {
                "stats": stats(row),
                "groupby_fields": [
                    {"field": name, "value": _raw_value(b, fd, value)}
                    for (name, fd, _), value in zip(group_defs, grouped, strict=True)
                ],
            }
        )
    return results


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


# ------------------------------------------------------------------------------------------- Attachment API

ATTACHMENT_TYPE = "attachment"


def attachment_json(attachment: Any, base_url: str) -> dict[str, str]:
    """An attachment's metadata as ServiceNow's Attachment API shows it."""
    sys_id = codes.encode_sys_id(ATTACHMENT_TYPE, attachment.id)
    table = codes.TABLE_OF_RECORD_TYPE.get(attachment.record_type, attachment.record_type)
    uploader = attachment.uploaded_by.username if attachment.uploaded_by else ""
    return {
        "sys_id": sys_id,
        "file_name": attachment.filename,
        "content_type": attachment.content_type,
        "size_bytes": str(attachment.size),
        "hash": attachment.sha256,
        "table_name": table,
        "table_sys_id": codes.encode_sys_id(attachment.record_type, attachment.record_id),
        "download_link": f"{base_url}/api/now/attachment/{sys_id}/file",
        "sys_created_on": codes.format_datetime(attachment.created_at),
        "sys_created_by": uploader,
    }


def attachment_id(sys_id: str) -> int:
    """The id behind an attachment's sys_id, or 404."""
    found = codes.decode_sys_id(sys_id, ATTACHMENT_TYPE)
    if found is None:
        raise NotFoundError(f"attachment {sys_id} not found")
    return found


def attachment_target(*, db_session: Session, query_text: str | None) -> tuple[str | None, str | None, str]:
    """(table_name, file_name, table_sys_id) from an Attachment API query; only = on those fields."""
    try:
        query = parse(query_text)
    except QuerySyntaxError as exc:
        raise SnBadRequest(str(exc), field="sysparm_query") from None
    wanted: dict[str, str] = {}
    for alternative in query.alternatives:
        for group in alternative:
            for cond in group:
                if len(group) > 1 or len(query.alternatives) > 1 or cond.operator != "=":
                    raise SnBadRequest(
                        "sysparm_query: attachments are found by field=value only", field=cond.field
                    )
                if cond.field not in ("table_name", "table_sys_id", "file_name"):
                    raise SnBadRequest(
                        f"sysparm_query: attachments have no field {cond.field!r}", field=cond.field
                    )
                wanted[cond.field] = cond.value
    if "table_sys_id" not in wanted:
        raise SnBadRequest(
            "sysparm_query: table_sys_id=<the record's sys_id> is required", field="table_sys_id"
        )
    return wanted.get("table_name"), wanted.get("file_name"), wanted["table_sys_id"]
