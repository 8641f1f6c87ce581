"""Encoded queries (sysparm_query) compiled to SQL on a table's model: never filtering rows in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.comment.models import Comment
from itsm_ai.records.spec import Action
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.query import (
    Condition,
    EncodedQuery,
    QuerySyntaxError,
    RelatedQuery,
    parse,
    relative_date,
)
from itsm_ai.servicenow.tables import Binding, binding, check_role, column_of, scope


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


# References named by key or walked to are resolved to the target ids first (users, groups, problems: small
# tables), as the native filters resolve names: `fk IN (ids)` lets the planner use the (fk, opened_at) index,
# where SQLite would scan in date order testing a sub-select per row. Many ids keep the sub-select.
RESOLVE_MAX = 1000


def _reference(
    b: Binding,
    name: str,
    fd: FieldDef,
    cond: Condition,
    now: datetime,
    sub: str | None,
    db_session,
    prefix: str = "",
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
        # Walked on: the rest of the path is a condition on the target, compiled as any other (so a further
        # reference walks again, up to the parser's MAX_DOT_WALK), negations applied once, here.
        head = sub.partition(".")[0]
        if target.table.field(head) is None:
            raise _bad(f"{prefix}{name}.{sub}", f"{fd.target} has no field {head!r} to dot-walk to")
        positive = Condition(sub, _POSITIVE.get(op, op), cond.value)
        inner = compile_condition(target, positive, now, db_session, prefix=f"{prefix}{name}.")
    matching = fk.in_(select(target.model.id).where(inner))
    if db_session is not None:
        ids = list(db_session.scalars(select(target.model.id).where(inner).limit(RESOLVE_MAX + 1)))
        if len(ids) <= RESOLVE_MAX:
            matching = fk.in_(ids) if ids else false()
    if op == "ISEMPTY":
        return or_(matching, fk.is_(None))  # no reference: the walked-to field is empty too
    return or_(not_(matching), fk.is_(None)) if op in _NEGATIVE else matching


_POSITIVE = {"!=": "=", "NOT IN": "IN", "NOTLIKE": "LIKE"}


def compile_condition(
    b: Binding,
    cond: Condition | RelatedQuery,
    now: datetime,
    db_session: Session | None = None,
    user: User | None = None,
    prefix: str = "",
):
    """One encoded-query condition as a SQL expression on the binding's model; `prefix` is the dot-walked
    path that led here (for messages), `user` limits related-list queries to what the user may read."""
    if isinstance(cond, RelatedQuery):
        return _related(b, cond, now, db_session, user)
    name, _, sub = cond.field.partition(".")
    fd = b.table.field(name)
    if fd is None:
        raise _bad(prefix + cond.field, f"{b.table.name} has no field {name!r}")
    if fd.kind == Kind.journal:
        raise _bad(prefix + name, "journal fields cannot be queried; query sys_journal_field")
    if fd.kind == Kind.secret:
        raise _bad(prefix + name, "this field cannot be queried")
    if fd.kind == Kind.reference:
        return _reference(b, name, fd, cond, now, sub or None, db_session, prefix)
    if sub:
        raise _bad(prefix + cond.field, f"{name} is not a reference, so it cannot be dot-walked")
    if fd.kind == Kind.active:
        if cond.operator not in ("=", "!="):
            raise _bad(prefix + name, f"the operator {cond.operator} is not supported on active")
        wanted = _convert(b, prefix + name, fd, cond.value, now) == (cond.operator == "=")
        final = list(b.table.final_states)
        return b.model.state.not_in(final) if wanted else b.model.state.in_(final)
    if fd.kind == Kind.element_id:
        return _element_id(cond)
    textual_ops = ("LIKE", "NOTLIKE", "STARTSWITH", "ENDSWITH")
    if cond.operator in textual_ops and fd.kind not in (Kind.text, Kind.integer):
        raise _bad(prefix + name, f"the operator {cond.operator} is not supported on a {fd.kind} field")
    return _compare(b, prefix + name, fd, column_of(b, fd), cond, now)


_COUNT_OPS = {"=": "__eq__", "!=": "__ne__", ">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__"}


def _related(b: Binding, rq: RelatedQuery, now: datetime, db_session: Session | None, user: User | None):
    """RLQUERY: a correlated count (or EXISTS) of the related records that refer to this one and match the
    inner query, in the user's scope of the related table (a requester counts only their own records)."""
    child_table = codes.TABLES.get(rq.table)
    if child_table is None:
        raise _bad(rq.field, f"there is no table {rq.table!r} to relate")
    child = binding(rq.table)
    fd = child.table.field(rq.reference)
    if fd is None or fd.kind != Kind.reference or codes.TABLES[fd.target].record_type != b.table.record_type:
        raise _bad(rq.field, f"{rq.table}.{rq.reference} is not a reference to {b.table.name}")
    scoped: list[Any] = []
    if user is not None:
        check_role(child, user, Action.read)
        scoped = scope(child, user)
    inner = _query_condition(child, rq.query, {}, now, db_session, user)
    fk = getattr(child.model, child.refs[fd.attr].fk)
    related = select(child.model.id).where(fk == b.model.id, inner, *scoped)
    quantifier, count = rq.quantifier, rq.count
    if (quantifier, count) in ((">=", 1), (">", 0), ("!=", 0)):
        return exists(related)
    if (quantifier, count) in (("=", 0), ("<", 1), ("<=", 0)):
        return not_(exists(related))
    counted = (
        select(func.count())
        .select_from(child.model)
        .where(fk == b.model.id, inner, *scoped)
        .scalar_subquery()
    )
    return getattr(counted, _COUNT_OPS[quantifier])(count)


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


def _query_condition(
    b: Binding,
    query: EncodedQuery,
    params: dict[str, str],
    now: datetime,
    db_session: Session | None,
    user: User | None,
):
    alternatives = []
    for alternative in query.alternatives:
        groups = [
            or_(*(compile_condition(b, c, now, db_session, user) for c in group)) for group in alternative
        ]
        alternatives.append(and_(*groups))
    plain = [compile_condition(b, Condition(k, "=", v), now, db_session, user) for k, v in params.items()]
    return and_(or_(*alternatives) if alternatives else true(), *plain)


def where_clause(
    b: Binding,
    query_text: str | None,
    params: dict[str, str],
    now: datetime,
    db_session: Session | None = None,
    user: User | None = None,
):
    """(SQL condition, ORDER BY list) for an encoded query plus plain field=value parameters; with a user,
    related-list queries count only related records that user may read."""
    try:
        query = parse(query_text)
        condition = _query_condition(b, query, params, now, db_session, user)
    except QuerySyntaxError as exc:
        raise SnBadRequest(str(exc), field="sysparm_query") from None
    order = []
    for field_name, desc in query.order:
        fd = b.table.field(field_name.partition(".")[0])
        if fd is None or fd.kind in (Kind.journal, Kind.element_id, Kind.table_name, Kind.secret):
            raise _bad(field_name, f"{b.table.name} cannot be ordered by {field_name!r}")
        column = column_of(b, fd) if fd.kind != Kind.active else b.model.state
        order.append(column.desc() if desc else column.asc())
    id_order = b.model.id.desc() if query.order and query.order[-1][1] else b.model.id.asc()
    # The id breaks ties, so offset paging never skips or repeats a row.
    return condition, [*order, id_order]
