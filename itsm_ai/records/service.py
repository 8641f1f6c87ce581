"""Generic create/read/update/delete for every numbered record type, with audit and optimistic locking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from itsm_ai.audit import service as audit_service
from itsm_ai.base.roles import Actor
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.inputs import parse_id
from itsm_ai.records import counters
from itsm_ai.records.events import RecordEvent, publish, publish_before_create
from itsm_ai.records.spec import RecordSpec, referencing_specs

HIDDEN = "***"
# PostgreSQL's SQLSTATE for "could not obtain lock on row" (SELECT ... FOR UPDATE NOWAIT).
LOCK_NOT_AVAILABLE = "55P03"


def get(*, db_session: Session, spec: RecordSpec, ref: str | int) -> Any:
    """Record by numeric id or by number (INC0000001), or NotFoundError."""
    obj = None
    text = str(ref).strip()
    if text.isascii() and text.isdigit():
        row_id = parse_id(text)  # past the id range: no such record (not an overflow in the database)
        obj = db_session.get(spec.model, row_id) if row_id is not None else None
    else:
        if spec.prefix is not None:
            obj = db_session.scalar(select(spec.model).where(spec.model.number == text.upper()))
        if obj is None and hasattr(spec.model, "name"):
            obj = db_session.scalar(select(spec.model).where(spec.model.name == text))
    if obj is None:
        raise NotFoundError(f"{spec.noun} {text} not found")
    return obj


def get_for(*, db_session: Session, spec: RecordSpec, ref: str | int, user: Actor, action: str) -> Any:
    """The record if this user may perform `action` on it: 403 for the role, 404 for others' records."""
    spec.access.check(user, action, noun=spec.noun)
    obj = get(db_session=db_session, spec=spec, ref=ref)
    spec.access.check(user, action, obj, noun=spec.noun)
    return obj


def resolve_ref(
    *, db_session: Session, spec: RecordSpec, field: str, value: str | None, cache=None
) -> int | None:
    """Turn a readable reference (username, group name, number) into a foreign key, or 422 naming it."""
    if value is None or value == "":
        return None
    ref = spec.refs[field]
    if cache is not None and (field, value) in cache:
        return cache[(field, value)]
    target_id = db_session.scalar(select(ref.target.id).where(getattr(ref.target, ref.key) == value))
    if target_id is None:
        raise InvalidInputError(f"{field}: no {ref.noun} {value!r}", field=field)
    if cache is not None:
        cache[(field, value)] = target_id
    return target_id


def _resolve_target(*, db_session: Session, spec: RecordSpec, field: str, value: str | None) -> Any:
    """The referenced record itself (for creates, which attach it), or None for no value; 422 if unknown."""
    if value is None or value == "":
        return None
    ref = spec.refs[field]
    target = db_session.scalar(select(ref.target).where(getattr(ref.target, ref.key) == value))
    if target is None:
        raise InvalidInputError(f"{field}: no {ref.noun} {value!r}", field=field)
    return target


def display(obj: Any, spec: RecordSpec, field: str) -> Any:
    """The value of a field as the API shows it (references by their readable key)."""
    if field in spec.refs:
        ref = spec.refs[field]
        target = getattr(obj, ref.rel)
        return getattr(target, ref.key) if target is not None else None
    if field in spec.links:
        return spec.links[field].shown(obj)
    return getattr(obj, field)


def serialize(spec: RecordSpec, obj: Any, schema: type | None = None) -> dict[str, Any]:
    """The read representation of a record as a dict matching spec.read_schema (or `schema`)."""
    out: dict[str, Any] = {}
    for name in (schema or spec.read_schema).model_fields:
        if name.endswith("_label"):
            base = name.removesuffix("_label")
            out[name] = spec.labels[base].get(getattr(obj, base), str(getattr(obj, base)))
        elif name in spec.refs or name in spec.links:
            out[name] = display(obj, spec, name)
        elif hasattr(obj, name):
            out[name] = getattr(obj, name)
    if spec.read_extra is not None:
        out.update(spec.read_extra(obj))
    return out


def _check_text(spec: RecordSpec, values: dict[str, Any]) -> None:
    for name in spec.required_text:
        value = values.get(name)
        if isinstance(value, str) and not value.strip():
            raise InvalidInputError(f"{name}: must not be blank", field=name)


def _check_not_null(spec: RecordSpec, values: dict[str, Any]) -> None:
    """An explicit null for a column that must have a value is bad input (422), not a database error."""
    columns = sa_inspect(spec.model).column_attrs
    for name, value in values.items():
        if (
            value is None
            and name not in spec.refs
            and name in columns
            and not columns[name].columns[0].nullable
        ):
            raise InvalidInputError(
                f"{name}: may not be null (leave it out to keep the current value)", field=name
            )


def _check_not_own_ancestor(db_session: Session, spec: RecordSpec, obj: Any, field: str, new_id: int) -> None:
    """A reference to the same record type (duplicate_of) may not point at the record itself or loop back."""
    ref = spec.refs[field]
    seen: set[int] = set()
    target_id: int | None = new_id
    while target_id is not None and target_id not in seen:
        if target_id == obj.id:
            raise InvalidInputError(
                f"{field}: {spec.noun} {getattr(obj, 'number', obj.id)} cannot refer to itself"
                + ("" if target_id == new_id else " (through the records it refers to)"),
                field=field,
            )
        seen.add(target_id)
        target_id = db_session.scalar(select(getattr(ref.target, ref.fk)).where(ref.target.id == target_id))


def touch(obj: Any) -> None:
    """Make the ORM write the row (bumping `version`) when only linked rows changed."""
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()
        return
    mapper = sa_inspect(obj).mapper
    version_col = mapper.version_id_col
    skip = {c.key for c in mapper.primary_key} | ({version_col.key} if version_col is not None else set())
    flag_modified(obj, next(a.key for a in mapper.column_attrs if a.key not in skip))


def _check_unique(db_session: Session, spec: RecordSpec, values: dict[str, Any], own_id: int | None) -> None:
    for name in spec.unique:
        if values.get(name) is None:
            continue
        other = db_session.scalar(select(spec.model.id).where(spec.column(name) == values[name]))
        if other is not None and other != own_id:
            raise ConflictError(
                f"{name}: a {spec.noun} with {name} {values[name]!r} already exists", field=name
            )


def _audited(spec: RecordSpec, name: str, value: Any) -> Any:
    return HIDDEN if name in spec.secret_fields else value


def _run_create_hooks(db_session: Session, spec: RecordSpec, obj: Any, actor) -> None:
    missing = set(spec.requires_hooks) - spec.hooks.names()
    if missing:
        # A write without them would store wrong derived values (a ticket's priority) without a word.
        raise RuntimeError(
            f"{spec.record_type}: hooks {sorted(missing)} are not attached; import itsm_ai.all_models first"
        )
    for hook in [*spec.hooks.create.values(), spec.on_create]:
        if hook is not None:
            hook(obj, db_session=db_session, actor=actor)


def create(
    *,
    db_session: Session,
    spec: RecordSpec,
    data: dict[str, Any],
    actor,
    source: str = "api",
    prepared: dict[str, Any] | None = None,
) -> Any:
    """Create a record from validated input values; numbers it, derives fields, audits it.

    `prepared`: what `events.prepare_create` computed from `data` before the session began (else the
    before-create listeners compute it inside the transaction)."""
    _check_text(spec, data)
    values = dict(data)
    if spec.validate is not None:
        values = spec.validate(values, db_session=db_session, obj=None)
    _check_unique(db_session, spec, values, None)
    linked = {name: values.pop(name, None) or [] for name in spec.links}
    targets: dict[str, Any] = {}
    for field in list(values):
        if field in spec.refs:
            value = values.pop(field)
            ref = spec.refs[field]
            target = _resolve_target(db_session=db_session, spec=spec, field=field, value=value)
            if target is not None and ref.active_attr is not None and not getattr(target, ref.active_attr):
                raise InvalidInputError(f"{field}: no active {ref.noun} {value!r}", field=field)
            values[ref.fk] = target.id if target is not None else None
            if target is not None:
                targets[ref.rel] = target
    values = {k: v for k, v in values.items() if v is not None}
    link_targets = {
        name: spec.links[name].resolve(db_session=db_session, field=name, values=given) if given else []
        for name, given in linked.items()
    }
    obj = spec.model(**values)
    # The referenced rows are loaded already: attach them, so audit, listeners and the response read them
    # without a lazy load each.
    for rel, target in targets.items():
        setattr(obj, rel, target)
    _run_create_hooks(db_session, spec, obj, actor)
    if not spec.configuration:
        creating = RecordEvent(
            "creating", spec.record_type, obj, actor=actor, source=source, prepared=prepared or {}
        )
        publish_before_create(db_session, creating)
    first = counters.reserve_numbers(db_session=db_session, record_type=spec.record_type)
    if spec.prefix is not None:
        obj.number = counters.format_number(spec.prefix, first)
    db_session.add(obj)
    db_session.flush()
    for name, link in spec.links.items():
        link.replace(db_session=db_session, spec=spec, obj=obj, targets=link_targets[name], new=True)
    shown = {name: _audited(spec, name, display(obj, spec, name)) for name in data if name not in spec.links}
    shown.update({name: given for name, given in linked.items() if given})
    for derived in ("number", "priority", "state"):
        if hasattr(obj, derived):
            shown[derived] = getattr(obj, derived)
    audit_service.record_create(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        values=shown,
        source=source,
    )
    if not spec.configuration:
        publish(db_session, RecordEvent("created", spec.record_type, obj, actor=actor, source=source))
    return obj


def _label(obj: Any) -> Any:
    return getattr(obj, "number", None) or getattr(obj, "name", None) or obj.id


def _stale(spec: RecordSpec, obj: Any, sent: Any, current: Any, *, busy: bool = False) -> ConflictError:
    what = "is being changed by someone else right now" if busy else "was changed by someone else"
    return ConflictError(
        f"{spec.noun} {_label(obj)} {what} (current version {current}, you sent {sent}); reload and retry",
        field="version",
        details={"current_version": current},
    )


def _claim(db_session: Session, spec: RecordSpec, obj: Any, version: Any) -> None:
    """Lock the row for this update without waiting: a row another writer holds answers 409 at once.

    The version check of the flush (UPDATE ... WHERE version = :v) alone would queue every writer of one
    version behind the first one's row lock until it commits, only to fail then (issue 13: 50 PATCHes of one
    ticket waited up to 47 s for their 409). Only a writer whose version was current when it read takes the
    lock, so a held lock means the version is about to move. SQLite serialises writers at BEGIN IMMEDIATE:
    nothing to claim there.
    """
    version_col = sa_inspect(spec.model).version_id_col
    if version_col is None or db_session.get_bind().dialect.name != "postgresql":
        return
    # FOR NO KEY UPDATE: the lock an UPDATE of non-key columns takes, so a transaction inserting a row that
    # references this one (a comment, an SLA clock: FOR KEY SHARE) does not count as a writer.
    locked = select(version_col).where(spec.model.id == obj.id).with_for_update(nowait=True, key_share=True)
    # A savepoint on the connection, not the session's: Session.begin_nested() (and its execute) would flush
    # this session's pending changes first, bumping the row's version before the check (a suggestion's
    # feedback sets the suggestions column before its update), and 409 against itself.
    connection = db_session.connection()
    savepoint = connection.begin_nested()
    try:
        current = connection.execute(locked).scalar_one_or_none()
    except OperationalError as exc:
        savepoint.rollback()
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        raise _stale(spec, obj, version, obj.version, busy=True) from None
    savepoint.commit()
    if current is None:
        raise NotFoundError(f"{spec.noun} {_label(obj)} not found")
    if current != version:  # committed by another writer between our read and the lock
        raise _stale(spec, obj, version, current)


def update(
    *, db_session: Session, spec: RecordSpec, obj: Any, data: dict[str, Any], actor, source: str = "api"
) -> Any:
    """Apply a partial update carrying the version that was read; stale -> 409, nothing changes."""
    values = dict(data)
    version = values.pop("version", None)
    if version is None:
        raise InvalidInputError("version: required to update (send the version you read)", field="version")
    if version != obj.version:
        raise _stale(spec, obj, version, obj.version)
    _claim(db_session, spec, obj, version)
    _check_not_null(spec, values)
    _check_text(spec, values)
    if spec.validate is not None:
        values = spec.validate(values, db_session=db_session, obj=obj)
    _check_unique(
        db_session,
        spec,
        {k: v for k, v in values.items() if k in spec.unique and v != getattr(obj, k)},
        obj.id,
    )
    changes: list[tuple[str, Any, Any]] = []
    for name, link in spec.links.items():
        if name not in values:
            continue
        given = values.pop(name) or []
        old = display(obj, spec, name)
        if sorted(set(given)) != sorted(old):
            targets = link.resolve(db_session=db_session, field=name, values=given) if given else []
            link.replace(db_session=db_session, spec=spec, obj=obj, targets=targets, new=False)
            # The links live in another table: touch the row so `version` and `updated_at` move too.
            touch(obj)
            changes.append((name, old, sorted(set(given))))
    previous = {name: display(obj, spec, name) for name in values}
    for field, value in values.items():
        if field in spec.refs:
            fk = spec.refs[field].fk
            new_id = resolve_ref(db_session=db_session, spec=spec, field=field, value=value)
            if new_id is not None and spec.refs[field].target is spec.model:
                _check_not_own_ancestor(db_session, spec, obj, field, new_id)
            if getattr(obj, fk) != new_id:
                ref = spec.refs[field]
                # Set the relationship too, so serialize() and listeners see the new reference at once.
                setattr(obj, ref.rel, db_session.get(ref.target, new_id) if new_id is not None else None)
                setattr(obj, fk, new_id)
                changes.append((field, previous[field], value))
        elif getattr(obj, field) != value:
            setattr(obj, field, value)
            changes.append((field, previous[field], value))
    if changes:
        for hook in [*spec.hooks.update.values(), spec.on_update]:
            if hook is not None:
                changes.extend(
                    hook(obj, db_session=db_session, previous=previous, changes=changes, actor=actor)
                )
    if changes:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session,
            record_type=spec.record_type,
            record_id=obj.id,
            actor=actor,
            changes=[(f, _audited(spec, f, old), _audited(spec, f, new)) for f, old, new in changes],
            source=source,
        )
        counters.bump_generation_at_commit(db_session=db_session, record_type=spec.record_type)
        if not spec.configuration:
            event = RecordEvent("updated", spec.record_type, obj, actor=actor, source=source, changes=changes)
            publish(db_session, event)
    return obj


def delete(*, db_session: Session, spec: RecordSpec, obj: Any, actor) -> None:
    """Delete a record (its hooks may refuse); its links go with it, its audit trail stays."""
    for hook in [*spec.hooks.delete.values(), spec.on_delete]:
        if hook is not None:
            hook(obj, db_session=db_session, spec=spec, actor=actor)
    number = getattr(obj, "number", None) or getattr(obj, "name", None)
    for link in spec.links.values():
        link.clear(db_session=db_session, spec=spec, obj=obj)
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="delete",
        old=number,
    )
    if not spec.configuration:
        publish(db_session, RecordEvent("deleted", spec.record_type, obj, actor=actor))
    db_session.delete(obj)
    db_session.flush()
    counters.record_deleted(db_session=db_session, record_type=spec.record_type)
    bump_referencing(db_session=db_session, target=spec.model, skip=spec.record_type)


def bump_referencing(*, db_session: Session, target: type, skip: str | None = None) -> None:
    """Deleting a record unlinks the records that refer to it (ON DELETE SET NULL) without touching them
    through the ORM: bump their generations so cached filtered totals are recounted."""
    for record_type in sorted({s.record_type for s, _ in referencing_specs(target)} - {skip}):
        counters.bump_generation(db_session=db_session, record_type=record_type)
