"""Generic create/read/update/delete for every numbered record type, with audit and optimistic locking."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from itsm_ai.asset.models import Asset, record_cis
from itsm_ai.audit import service as audit_service
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.records import counters
from itsm_ai.records.events import RecordEvent, publish, publish_before_create
from itsm_ai.records.spec import RecordSpec, referencing_specs


def get(*, db_session: Session, spec: RecordSpec, ref: str | int) -> Any:
    """Record by numeric id or by number (INC0000001), or NotFoundError."""
    obj = None
    text = str(ref).strip()
    if text.isdigit():
        obj = db_session.get(spec.model, int(text))
    else:
        if spec.prefix is not None:
            obj = db_session.scalar(select(spec.model).where(spec.model.number == text.upper()))
        if obj is None and hasattr(spec.model, "name"):
            obj = db_session.scalar(select(spec.model).where(spec.model.name == text))
    if obj is None:
        raise NotFoundError(f"{spec.noun} {text} not found")
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


def resolve_assets(*, db_session: Session, names: list[str]) -> list[int]:
    """Asset ids for asset names (or numbers), or 422 naming configuration_items."""
    ids = []
    for name in dict.fromkeys(names):
        asset_id = db_session.scalar(select(Asset.id).where((Asset.name == name) | (Asset.number == name)))
        if asset_id is None:
            raise InvalidInputError(f"configuration_items: no asset {name!r}", field="configuration_items")
        ids.append(asset_id)
    return ids


def display(obj: Any, spec: RecordSpec, field: str) -> Any:
    """The value of a field as the API shows it (references by their readable key)."""
    if field in spec.refs:
        ref = spec.refs[field]
        target = getattr(obj, ref.rel)
        return getattr(target, ref.key) if target is not None else None
    if field == "configuration_items":
        return [a.name for a in obj.configuration_items_ref]
    return getattr(obj, field)


def serialize(spec: RecordSpec, obj: Any) -> dict[str, Any]:
    """The read representation of a record as a dict matching spec.read_schema."""
    out: dict[str, Any] = {}
    for name in spec.read_schema.model_fields:
        if name.endswith("_label"):
            base = name.removesuffix("_label")
            out[name] = spec.labels[base].get(getattr(obj, base), str(getattr(obj, base)))
        elif name in spec.refs or name == "configuration_items":
            out[name] = display(obj, spec, name)
        elif hasattr(obj, name):
            out[name] = getattr(obj, name)
    if spec.read_extra is not None:
        out.update(spec.read_extra(obj))
    return out


def _set_cis(db_session: Session, spec: RecordSpec, obj: Any, asset_ids: list[int]) -> None:
    db_session.execute(
        sa_delete(record_cis).where(
            record_cis.c.record_type == spec.record_type, record_cis.c.record_id == obj.id
        )
    )
    if asset_ids:
        db_session.execute(
            insert(record_cis),
            [{"record_type": spec.record_type, "record_id": obj.id, "asset_id": a} for a in asset_ids],
        )
    db_session.expire(obj, ["configuration_items_ref"])


def _check_text(spec: RecordSpec, values: dict[str, Any]) -> None:
    for name in spec.required_text:
        value = values.get(name)
        if isinstance(value, str) and not value.strip():
            raise InvalidInputError(f"{name}: must not be blank", field=name)


def _check_not_null(spec: RecordSpec, values: dict[str, Any]) -> None:
    """An explicit null for a column that must have a value is bad input (422), not a database error."""
    columns = spec.model.__table__.c
    for name, value in values.items():
        if value is None and name not in spec.refs and name in columns and not columns[name].nullable:
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


def create(*, db_session: Session, spec: RecordSpec, data: dict[str, Any], actor, source: str = "api") -> Any:
    """Create a record from validated input values; numbers it, derives fields, audits it."""
    _check_text(spec, data)
    values = dict(data)
    cis = values.pop("configuration_items", None) or []
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
    asset_ids = resolve_assets(db_session=db_session, names=cis) if cis else []
    obj = spec.model(**values)
    # The referenced rows are loaded already: attach them, so audit, listeners and the response read them
    # without a lazy load each.
    for rel, target in targets.items():
        setattr(obj, rel, target)
    if spec.on_create is not None:
        spec.on_create(obj, db_session=db_session, actor=actor)
    creating = RecordEvent("creating", spec.record_type, obj, actor=actor, source=source)
    publish_before_create(db_session, creating)
    if spec.prefix is not None:
        first = counters.allocate_numbers(db_session=db_session, record_type=spec.record_type)
        obj.number = counters.format_number(spec.prefix, first)
    else:
        counters.allocate_numbers(db_session=db_session, record_type=spec.record_type)
    db_session.add(obj)
    db_session.flush()
    if asset_ids:
        _set_cis(db_session, spec, obj, asset_ids)
    elif spec.has_cis:
        set_committed_value(obj, "configuration_items_ref", [])
    shown = {name: display(obj, spec, name) for name in data if name != "configuration_items"}
    if cis:
        shown["configuration_items"] = cis
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
    publish(db_session, RecordEvent("created", spec.record_type, obj, actor=actor, source=source))
    return obj


def update(
    *, db_session: Session, spec: RecordSpec, obj: Any, data: dict[str, Any], actor, source: str = "api"
) -> Any:
    """Apply a partial update carrying the version that was read; stale -> 409, nothing changes."""
    values = dict(data)
    version = values.pop("version", None)
    if version is None:
        raise InvalidInputError("version: required to update (send the version you read)", field="version")
    if version != obj.version:
        raise ConflictError(
            f"{spec.noun} {getattr(obj, 'number', obj.id)} was changed by someone else "
            f"(current version {obj.version}, you sent {version}); reload and retry",
            field="version",
            details={"current_version": obj.version},
        )
    _check_not_null(spec, values)
    _check_text(spec, values)
    changes: list[tuple[str, Any, Any]] = []
    if "configuration_items" in values:
        names = values.pop("configuration_items") or []
        old = display(obj, spec, "configuration_items")
        if sorted(set(names)) != sorted(old):
            _set_cis(db_session, spec, obj, resolve_assets(db_session=db_session, names=names))
            # The links live in another table: touch the row so `version` and `updated_at` move too.
            touch(obj)
            changes.append(("configuration_items", old, sorted(set(names))))
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
    if spec.on_update is not None and changes:
        derived = spec.on_update(obj, db_session=db_session, previous=previous, changes=changes, actor=actor)
        changes.extend(derived)
    if changes:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session,
            record_type=spec.record_type,
            record_id=obj.id,
            actor=actor,
            changes=changes,
            source=source,
        )
        counters.bump_generation(db_session=db_session, record_type=spec.record_type)
        event = RecordEvent("updated", spec.record_type, obj, actor=actor, source=source, changes=changes)
        publish(db_session, event)
    return obj


def delete(*, db_session: Session, spec: RecordSpec, obj: Any, actor) -> None:
    """Delete a record; its comments and CI links go with it, its audit trail stays."""
    from itsm_ai.comment.models import Comment

    number = getattr(obj, "number", None) or getattr(obj, "name", None)
    if spec.has_comments:
        db_session.execute(
            sa_delete(Comment).where(Comment.record_type == spec.record_type, Comment.record_id == obj.id)
        )
    if spec.has_cis:
        db_session.execute(
            sa_delete(record_cis).where(
                record_cis.c.record_type == spec.record_type, record_cis.c.record_id == obj.id
            )
        )
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="delete",
        old=number,
    )
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
