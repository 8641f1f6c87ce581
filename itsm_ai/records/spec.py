"""What the generic CRUD needs to know about a record type: schemas, references, links, filters, access and
the hooks through which features derive values on write. Records know no feature: features hand them in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from itsm_ai.base import spec_registry
from itsm_ai.base.roles import ADMINS, STAFF, Actor, Role
from itsm_ai.errors import InvalidInputError, NotFoundError, PermissionDeniedError


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


class Link(ABC):
    """A list-valued field kept outside the record's row (a ticket's configuration items, a group's members),
    shown and accepted as a list of readable keys."""

    # What one value names, for error messages ("asset", "user").
    noun: str = "record"

    @abstractmethod
    def shown(self, obj: Any) -> list[str]:
        """The linked values as the API shows them."""

    def shown_for(self, *, db_session: Session, spec: RecordSpec, ids: list[int]) -> dict[int, list[str]]:
        """The linked values of many records at once, as `shown` gives them; a link that implements it lets
        lists read plain rows instead of loading every record object."""
        raise NotImplementedError

    @abstractmethod
    def find(self, *, db_session: Session, value: str) -> Any | None:
        """What one value stands for, or None."""

    def resolve(self, *, db_session: Session, field: str, values: list[str]) -> list[Any]:
        """What the values stand for (each once, in order), or 422 naming `field` and the first unknown."""
        targets = []
        for value in dict.fromkeys(values):
            target = self.find(db_session=db_session, value=value)
            if target is None:
                raise InvalidInputError(f"{field}: no {self.noun} {value!r}", field=field)
            targets.append(target)
        return targets

    @abstractmethod
    def replace(
        self, *, db_session: Session, spec: RecordSpec, obj: Any, targets: list[Any], new: bool
    ) -> None:
        """Link the record to exactly these targets (`new`: just inserted, nothing linked yet)."""

    def clear(self, *, db_session: Session, spec: RecordSpec, obj: Any) -> None:  # noqa: B027
        """Remove the links of a record being deleted (by default the database cascades them)."""


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

    def check(self, user: Actor, action: str, obj: Any | None = None, *, noun: str = "record") -> None:
        """Raise PermissionDenied (or NotFound, to hide others' records) unless the user may act."""
        roles = self.roles_for(action)
        if user.role not in roles:
            raise PermissionDeniedError(f"your role ({user.role}) may not {action} {noun} records")
        if obj is not None and user.role == Role.requester and not self.visible_to_requester(user, obj):
            # Requesters learn nothing about records that are not theirs, not even that they exist.
            raise NotFoundError(f"{noun} {getattr(obj, 'number', obj.id)} not found")

    def visible_to_requester(self, user: Actor, obj: Any) -> bool:
        """True when a requester may see this record."""
        if self.owner_attr is not None:
            return getattr(obj, self.owner_attr) == user.id
        if self.requester_visible is not None:
            return bool(self.requester_visible(obj))
        return True


# Configuration records (groups, SLA calendars and policies, rules): staff read them, admins change them.
CONFIGURATION_ACCESS = Access(create=ADMINS, read=STAFF, update=ADMINS, delete=ADMINS)

# (obj, *, db_session, actor) -> None: derive values on a new record before its INSERT.
CreateHook = Callable[..., None]
# (obj, *, db_session, previous, changes, actor) -> derived changes: derive values after a change is applied.
UpdateHook = Callable[..., list[tuple[str, Any, Any]]]
# (obj, *, db_session, spec, actor) -> None: refuse (raise) or clean up before a record is deleted.
DeleteHook = Callable[..., None]


@dataclass
class Hooks:
    """Hooks other features attach to a record type by name (the workflow engine's lifecycle and priority on
    tickets); they run before the record type's own hooks, in the order attached."""

    create: dict[str, CreateHook] = field(default_factory=dict)
    update: dict[str, UpdateHook] = field(default_factory=dict)
    delete: dict[str, DeleteHook] = field(default_factory=dict)

    def attach(
        self,
        name: str,
        *,
        on_create: CreateHook | None = None,
        on_update: UpdateHook | None = None,
        on_delete: DeleteHook | None = None,
    ) -> None:
        """Attach a feature's hooks under its name (attaching the same name again replaces them)."""
        for table, hook in ((self.create, on_create), (self.update, on_update), (self.delete, on_delete)):
            if hook is not None:
                table[name] = hook

    def names(self) -> set[str]:
        """The names of the features that attached hooks."""
        return set(self.create) | set(self.update) | set(self.delete)


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
    links: Mapping[str, Link] = field(default_factory=dict)
    filters: Mapping[str, type] = field(default_factory=dict)
    range_field: str | None = "opened_at"
    sort_fields: tuple[str, ...] = ("id",)
    # One field, or several separated by commas; '-' for descending.
    default_sort: str = "-id"
    search_fields: tuple[str, ...] = ("short_description",)
    # The search fields have a full-text index (records.fulltext; created by a migration): `q` uses it.
    fulltext: bool = False
    labels: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    # The record type's own hooks (values it derives on write); other features attach theirs to `hooks`.
    on_create: CreateHook | None = None
    on_update: UpdateHook | None = None
    on_delete: DeleteHook | None = None
    # (values, *, db_session, obj) -> values: checks the sent values against the whole record (obj is None on
    # create) and returns them normalised, or raises InvalidInputError naming the field.
    validate: Callable[..., dict[str, Any]] | None = None
    # Names of attached hooks a write cannot do without (a ticket's priority comes from the workflow engine).
    requires_hooks: tuple[str, ...] = ()
    requester_create_filter: Callable[[Actor, dict[str, Any]], None] | None = None
    read_extra: Callable[[Any], dict[str, Any]] | None = None
    # The representation a create answers with, when it shows more than a read (a webhook's secret, once).
    created_schema: type[BaseModel] | None = None
    extra_filter_columns: Mapping[str, str] = field(default_factory=dict)
    # Text fields that must hold more than whitespace (titles and names), on create and update.
    required_text: tuple[str, ...] = ("short_description", "name")
    # Fields no two records share: a clash is 409 naming the field (the database constraint stays the guard).
    unique: tuple[str, ...] = ()
    # Fields the audit trail records only as changed ("***"), never their value.
    secret_fields: tuple[str, ...] = ()
    # Configuration (groups, SLA policies, rules, webhooks): its writes publish no domain events, it is not
    # exported with the data, and its lists are short enough to answer whole by default.
    configuration: bool = False
    hooks: Hooks = field(default_factory=Hooks)

    def __post_init__(self) -> None:
        spec_registry.register(self)

    def column(self, name: str):
        """The mapped column attribute for a field name."""
        return getattr(self.model, name)


def referencing_specs(target: type) -> list[tuple[RecordSpec, str]]:
    """(spec, field) for every reference field that points at records of the `target` model."""
    return [
        (s, name) for s in spec_registry.all_specs() for name, ref in s.refs.items() if ref.target is target
    ]
