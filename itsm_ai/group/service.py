"""Assignment groups: create, update, members."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.auth import service as user_service
from itsm_ai.auth.models import User
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.group.models import Group, GroupCreate, GroupRead, GroupUpdate


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
