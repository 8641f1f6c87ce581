"""ServiceNow tables bound to our models, and who may read or write them (the native API's rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from itsm_ai.auth.models import User
from itsm_ai.base import spec_registry
from itsm_ai.base.roles import ADMINS, READERS, STAFF, Role
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.errors import PermissionDeniedError
from itsm_ai.records.spec import Action, RecordSpec, Ref
from itsm_ai.servicenow import codes
from itsm_ai.servicenow.codes import FieldDef, Kind, TableDef
from itsm_ai.servicenow.errors import SnBadRequest


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
OWN_MODELS = {"user": User, "comment": Comment}


def binding(table_name: str) -> Binding:
    """The binding of a ServiceNow table; 400 "Invalid table" for tables we do not serve."""
    table = codes.TABLES.get(table_name)
    if table is None:
        raise SnBadRequest(f"Invalid table {table_name}", field="table")
    spec = spec_registry.find(table.record_type)
    if table.record_type in OWN_MODELS:
        return Binding(table, OWN_MODELS[table.record_type], None, dict(_OWN_REFS.get(table.record_type, {})))
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


def column_of(b: Binding, fd: FieldDef):
    """The model column behind a field (a reference's foreign key)."""
    if fd.kind == Kind.reference:
        return getattr(b.model, b.refs[fd.attr].fk)
    return getattr(b.model, fd.attr)
