"""The ServiceNow Table API's operations over our store: list, read, create, update and delete, with writes
through the records service (so audit, the engine's hooks, events and reports run as for the native API)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.auth import service as auth_service
from itsm_ai.auth.models import User, UserCreate, UserUpdate
from itsm_ai.base import spec_registry
from itsm_ai.base.roles import Role
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import Comment, CommentCreate, Visibility
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.errors import NotFoundError, PermissionDeniedError
from itsm_ai.records import counters, events
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import total_cache
from itsm_ai.records.spec import Action, RecordSpec
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.query import parse
from itsm_ai.servicenow.query_sql import where_clause
from itsm_ai.servicenow.tables import OWN_MODELS, Binding, check_role, scope

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10_000


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
) -> tuple[list[int], int | None]:
    """The ids of a page of records matching the query, in the caller's scope, and the total (None unless
    counted); `record_json.records` shows them."""
    check_role(b, user, Action.read)
    condition, order = where_clause(b, query_text, params, utcnow(), db_session, user)
    conditions = [condition, *scope(b, user)]
    # The page's keys alone, so the paging query stays on the indexes; the shown columns are read for these.
    stmt = select(b.model.id).where(*conditions).order_by(*order).limit(limit).offset(offset)
    ids = list(db_session.scalars(stmt))
    total = None
    if count:
        total = _total(db_session, b, user, query_text, params, conditions)
    return ids, total


def _total(db_session: Session, b: Binding, user: User, query_text, params, conditions) -> int:
    """The number of matching records: O(1) unfiltered and cached per write generation, as the native lists
    (pysnc and offset-paging integrations ask for it on every page)."""
    scoped = bool(scope(b, user))
    # Relative dates move with the clock and related-list counts with another table's writes: never cached.
    if b.spec is None or (query_text and ("javascript:" in query_text or "RLQUERY" in query_text)):
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


def visible_id(*, db_session: Session, b: Binding, user: User, sys_id: str, action: str = Action.read) -> int:
    """The id behind a sys_id if the user may act on that record; 404 for unknown ones and others' records."""
    check_role(b, user, action)
    record_id = codes.decode_sys_id(sys_id, b.table.record_type)
    found = None
    if record_id is not None:
        found = db_session.scalar(select(b.model.id).where(b.model.id == record_id, *scope(b, user)))
    if found is None:
        raise NotFoundError(f"No Record found: {b.table.name} {sys_id} does not exist or you cannot read it")
    return found


def get_record(*, db_session: Session, b: Binding, user: User, sys_id: str, action: str = Action.read) -> Any:
    """The record with this sys_id if the user may act on it; 404 for unknown ones and others' records."""
    record_id = visible_id(db_session=db_session, b=b, user=user, sys_id=sys_id, action=action)
    obj = db_session.get(b.model, record_id)
    if obj is None:  # deleted since
        raise NotFoundError(f"No Record found: {b.table.name} {sys_id} does not exist or you cannot read it")
    return obj


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
    # The ML of a create (classification, embeddings) runs with no transaction open, as on the native API: the
    # reads above (references given by sys_id) end here, so no SQLite write lock is held while models load and
    # run (parallel inserts waited past the busy timeout behind it).
    db_session.commit()
    prepared = {} if b.spec.configuration else events.prepare_create(b.spec.record_type, values)
    obj = record_service.create(
        db_session=db_session, spec=b.spec, data=values, actor=user, prepared=prepared
    )
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
        if record_id is not None and spec is not None and record_type not in OWN_MODELS:
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
