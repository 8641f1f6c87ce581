"""What the generic CRUD needs to know about a record type: schemas, references, filters, access."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from itsm_ai.auth.enums import Role
from itsm_ai.auth.models import User
from itsm_ai.errors import NotFoundError, PermissionDeniedError


@dataclass(frozen=True)
class Ref:
    """A reference field: stored as a foreign key, shown and accepted by a readable key."""

    fk: str
    rel: str
    target: type
    key: str
    noun: str
    # A boolean attribute of the target: new records may only refer to targets where it is true (orderable
    # catalog items); filters and existing records still see inactive ones.
    active_attr: str | None = None


class Action:
    create = "create"
    read = "read"
    update = "update"
    delete = "delete"
    comment = "comment"


@dataclass(frozen=True)
class Access:
    """Who may do what with one record type; `owner_attr` scopes requesters to their own records."""

    create: frozenset[Role]
    read: frozenset[Role]
    update: frozenset[Role]
    delete: frozenset[Role]
    owner_attr: str | None = None
    requester_visible: Callable[[Any], bool] | None = None
    requester_scope: Mapping[str, Any] | None = None
    # Who may comment; by default those who may change the record plus requesters who may read it (on their
    # own records only). Reading is not enough: data scientists read every ticket but must not write on them.
    comment: frozenset[Role] | None = None

    def roles_for(self, action: str) -> frozenset[Role]:
        """The roles allowed to perform an action."""
        if action == Action.comment:
            if self.comment is not None:
                return self.comment
            return self.update | (self.read & {Role.requester})
        return getattr(self, action)

    def check(self, user: User, action: str, obj: Any | None = None, *, noun: str = "record") -> None:
        """Raise PermissionDenied (or NotFound, to hide others' records) unless the user may act."""
        roles = self.roles_for(action)
        if user.role not in roles:
            raise PermissionDeniedError(f"your role ({user.role}) may not {action} {noun} records")
        if obj is not None and user.role == Role.requester and not self.visible_to_requester(user, obj):
            # Requesters learn nothing about records that are not theirs, not even that they exist.
            raise NotFoundError(f"{noun} {getattr(obj, 'number', obj.id)} not found")

    def visible_to_requester(self, user: User, obj: Any) -> bool:
        """True when a requester may see this record."""
        if self.owner_attr is not None:
            return getattr(obj, self.owner_attr) == user.id
        if self.requester_visible is not None:
            return bool(self.requester_visible(obj))
        return True


@dataclass(frozen=True)
class RecordSpec:
    """Everything the generic service and router need for one record type."""

    record_type: str
    noun: str
    path: str
    model: type
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    read_schema: type[BaseModel]
    access: Access
    prefix: str | None = None
    refs: Mapping[str, Ref] = field(default_factory=dict)
    filters: Mapping[str, type] = field(default_factory=dict)
    range_field: str | None = "opened_at"
    sort_fields: tuple[str, ...] = ("id",)
    default_sort: str = "-id"
    search_fields: tuple[str, ...] = ("short_description",)
    has_cis: bool = False
    has_comments: bool = False
    labels: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    # Hooks: the ticket and workflow layers add derived values (priority, state timestamps) here.
    on_create: Callable[..., None] | None = None
    on_update: Callable[..., list[tuple[str, Any, Any]]] | None = None
    requester_create_filter: Callable[[User, dict[str, Any]], None] | None = None
    read_extra: Callable[[Any], dict[str, Any]] | None = None
    extra_filter_columns: Mapping[str, str] = field(default_factory=dict)
    # Text fields that must hold more than whitespace (titles and names), on create and update.
    required_text: tuple[str, ...] = ("short_description", "name")

    def __post_init__(self) -> None:
        _registry[self.record_type] = self

    def column(self, name: str):
        """The mapped column attribute for a field name."""
        return getattr(self.model, name)


# Every spec by record type, filled as specs are defined (feature modules import their spec at start-up).
_registry: dict[str, RecordSpec] = {}


def registered_specs() -> list[RecordSpec]:
    """Every record spec defined so far."""
    return list(_registry.values())


def referencing_specs(target: type) -> list[tuple[RecordSpec, str]]:
    """(spec, field) for every reference field that points at records of the `target` model."""
    return [(s, name) for s in registered_specs() for name, ref in s.refs.items() if ref.target is target]
