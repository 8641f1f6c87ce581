"""Assignment groups: create, update, members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from itsm_ai.audit import service as audit_service
from itsm_ai.auth import service as user_service
from itsm_ai.auth.models import User
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.group.models import Group, GroupCreate, GroupRead, GroupUpdate, group_members


def get_by_name(*, db_session: Session, name: str) -> Group | None:
    """Group by exact name."""
    return db_session.scalar(select(Group).where(Group.name == name))


def get_or_404(*, db_session: Session, ref: str) -> Group:
    """Group by id or name, or NotFoundError."""
    group = db_session.get(Group, int(ref)) if ref.isdigit() else None
    group = group or get_by_name(db_session=db_session, name=ref)
    if group is None:
        raise NotFoundError(f"group {ref!r} not found")
    return group


def _users(db_session: Session, usernames: list[str], field: str) -> list[User]:
    users = []
    for name in dict.fromkeys(usernames):
        user = user_service.get_by_username(db_session=db_session, username=name)
        if user is None:
            raise InvalidInputError(f"{field}: no user {name!r}", field=field)
        users.append(user)
    return users


def to_read(group: Group) -> GroupRead:
    """API view of a group."""
    return GroupRead(
        id=group.id,
        name=group.name,
        description=group.description,
        email=group.email,
        manager=group.manager.username if group.manager else None,
        active=group.active,
        members=[u.username for u in group.members],
        created_at=group.created_at,
        version=group.version,
    )


def create(*, db_session: Session, group_in: GroupCreate, actor) -> Group:
    """Create a group with its members."""
    if not group_in.name.strip():
        raise InvalidInputError("name: must not be blank", field="name")
    if get_by_name(db_session=db_session, name=group_in.name):
        raise ConflictError(f"group {group_in.name!r} already exists", field="name")
    manager = _users(db_session, [group_in.manager], "manager")[0] if group_in.manager else None
    group = Group(
        name=group_in.name,
        description=group_in.description,
        email=group_in.email,
        manager_id=manager.id if manager else None,
        active=group_in.active,
        members=_users(db_session, group_in.members, "members"),
    )
    db_session.add(group)
    db_session.flush()
    audit_service.record_create(
        db_session=db_session,
        record_type="group",
        record_id=group.id,
        actor=actor,
        values=group_in.model_dump(),
    )
    return group


def ensure(*, db_session: Session, name: str, cache=None) -> Group:
    """The group with this name, created if missing (imports)."""
    if cache is not None and name in cache:
        return cache[name]
    group = get_by_name(db_session=db_session, name=name)
    if group is None:
        group = Group(name=name)
        db_session.add(group)
        db_session.flush()
    if cache is not None:
        cache[name] = group
    return group


def update(*, db_session: Session, group: Group, group_in: GroupUpdate, actor) -> Group:
    """Versioned partial update of a group."""
    if group_in.version != group.version:
        raise ConflictError(
            f"group {group.name} was changed by someone else (version {group.version}); reload and retry",
            field="version",
        )
    values = group_in.model_dump(exclude_unset=True, exclude={"version"})
    for field in ("name", "active"):
        if field in values and values[field] is None:
            raise InvalidInputError(
                f"{field}: may not be null (leave it out to keep the current value)", field=field
            )
    if "name" in values and not values["name"].strip():
        raise InvalidInputError("name: must not be blank", field="name")
    changes = []
    if "name" in values and values["name"] != group.name:
        if get_by_name(db_session=db_session, name=values["name"]):
            raise ConflictError(f"group {values['name']!r} already exists", field="name")
    if "manager" in values:
        manager = _users(db_session, [values["manager"]], "manager")[0] if values["manager"] else None
        old = group.manager.username if group.manager else None
        if (manager.username if manager else None) != old:
            group.manager_id = manager.id if manager else None
            changes.append(("manager", old, values["manager"]))
        values.pop("manager")
    if "members" in values:
        members = _users(db_session, values.pop("members") or [], "members")
        old = sorted(u.username for u in group.members)
        new = sorted(u.username for u in members)
        if old != new:
            group.members = members
            # Members live in group_members: mark the row changed so `version` moves with them.
            flag_modified(group, "name")
            changes.append(("members", old, new))
    for field, value in values.items():
        if getattr(group, field) != value:
            changes.append((field, getattr(group, field), value))
            setattr(group, field, value)
    if changes:
        db_session.flush()
        audit_service.record_changes(
            db_session=db_session, record_type="group", record_id=group.id, actor=actor, changes=changes
        )
    db_session.refresh(group)
    return group


def _references(db_session: Session, group: Group) -> list[tuple[str, str, int]]:
    """(table, field, count) for every row outside the group itself that still points at the group."""
    from sqlalchemy import func

    found = []
    for table in Group.metadata.sorted_tables:
        if table is group_members:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is Group.__table__:
                n = db_session.scalar(select(func.count()).select_from(table).where(fk.parent == group.id))
                if n:
                    found.append((table.name, fk.parent.name.removesuffix("_id"), n))
    return found


def delete(*, db_session: Session, group: Group, actor) -> None:
    """Delete a group nobody refers to any more; a group still in use is refused (409), deactivate it instead.

    The foreign keys would quietly unassign its tickets (ON DELETE SET NULL) without audit or version bump,
    so the API refuses rather than rewriting history; members go with the group.
    """
    refs = _references(db_session, group)
    if refs:
        field = refs[0][1]
        where = ", ".join(f"{c} in {t}.{f}" for t, f, c in refs)
        raise ConflictError(
            f"group {group.name!r} is still referenced ({where}); reassign those or set active=false",
            field=field,
            details={"references": [{"table": t, "field": f, "count": c} for t, f, c in refs]},
        )
    audit_service.record_event(
        db_session=db_session,
        record_type="group",
        record_id=group.id,
        actor=actor,
        action="delete",
        old=group.name,
    )
    db_session.delete(group)
    db_session.flush()
