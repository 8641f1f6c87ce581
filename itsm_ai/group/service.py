"""Assignment group spec: a configuration record served by the generic store, with its members as a link."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.auth.models import User
from itsm_ai.errors import ConflictError
from itsm_ai.group.models import Group, GroupCreate, GroupRead, GroupUpdate, group_members
from itsm_ai.records.spec import CONFIGURATION_ACCESS, Link, RecordSpec, Ref


class Members(Link):
    """The users of a group, kept in group_members and shown by username."""

    noun = "user"

    def shown(self, obj: Group) -> list[str]:
        """Usernames, sorted."""
        return sorted(u.username for u in obj.members)

    def find(self, *, db_session: Session, value: str) -> User | None:
        """The user with this username."""
        return db_session.scalar(select(User).where(User.username == value))

    def replace(
        self, *, db_session: Session, spec: RecordSpec, obj: Group, targets: list[User], new: bool
    ) -> None:
        """Make these users the members."""
        if new and not targets:
            set_committed_value(obj, "members", [])
        else:
            obj.members = targets


def _references(db_session: Session, group: Group) -> list[tuple[str, str, int]]:
    """(table, field, count) for every row outside the group itself that still points at the group."""
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


def _refuse_if_referenced(group: Group, *, db_session: Session, spec: RecordSpec, actor) -> None:
    """A group still in use is refused (409): deactivate it instead.

    The foreign keys would quietly unassign its tickets (ON DELETE SET NULL) without audit or version bump,
    so the store refuses rather than rewriting history; members go with the group.
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


GROUP_TYPE = "group"

GROUP = RecordSpec(
    record_type=GROUP_TYPE,
    noun="group",
    path="groups",
    model=Group,
    create_schema=GroupCreate,
    update_schema=GroupUpdate,
    read_schema=GroupRead,
    access=CONFIGURATION_ACCESS,
    refs={"manager": Ref("manager_id", "manager", User, "username", "user")},
    links={"members": Members()},
    filters={"name": str, "active": bool, "manager": str},
    range_field=None,
    sort_fields=("name", "id", "created_at"),
    default_sort="name",
    search_fields=("name", "description"),
    on_delete=_refuse_if_referenced,
    unique=("name",),
    configuration=True,
)


def get_by_name(*, db_session: Session, name: str) -> Group | None:
    """Group by exact name."""
    return db_session.scalar(select(Group).where(Group.name == name))
