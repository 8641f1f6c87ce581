"""Automation actions: each a small class that validates its JSON and plans effects without applying anything.

An action's `plan(ticket)` returns descriptive `Effect`s (a field change, a comment, a webhook call, a record
to create; they live in `effects` and are importable from here too). The engine applies them; a dry run only
shows them. Actions that would change nothing plan no effect, so running a rule twice is harmless.

Text templates (comment bodies, problem descriptions) use `{field}` or `{dotted.path}` placeholders filled
from the ticket; an unknown field renders as an empty string. Only plain lookups are supported (no format
specs, no attribute access), so a stored template cannot reach into Python objects.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar
from urllib.parse import urlsplit

from itsm_ai.base.record_types import RecordType
from itsm_ai.workflow.conditions import MISSING, resolve
from itsm_ai.workflow.effects import (
    ApprovalToAsk,
    CommentToAdd,
    CommentVisibility,
    Effect,
    FieldChange,
    RecordToCreate,
    WebhookToSend,
)


class ActionError(ValueError):
    """A malformed action; `path` names the bad part, e.g. `actions[2].url`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# Fields an action may not set: identity and timestamps are the store's, and state moves go through the
# transition table, never through a plain field write.
PROTECTED_FIELDS = frozenset({"id", "number", "record_type", "state", "created_at", "updated_at"})
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
WEBHOOK_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return ""
    return str(value.value if isinstance(value, Enum) else value)


def render_template(template: str, ticket: Mapping[str, Any]) -> str:
    """Fill `{field}` / `{a.b}` placeholders from the ticket (unknown fields render empty)."""
    return _PLACEHOLDER.sub(lambda m: _text(resolve(ticket, m.group(1))), template)


# -- actions -------------------------------------------------------------------------------------------------


def _require_mapping(obj: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ActionError(path, f"must be an object, got {type(obj).__name__}")
    return obj


def _check_keys(
    obj: Mapping[str, Any], path: str, *, required: set[str], optional: set[str] = frozenset()
) -> None:
    missing = sorted(required - set(obj))
    if missing:
        raise ActionError(f"{path}.{missing[0]}", "is required")
    unknown = sorted(set(obj) - required - optional - {"type"})
    if unknown:
        raise ActionError(f"{path}.{unknown[0]}", "is not a parameter of this action")


def _non_empty_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ActionError(f"{path}.{key}", "must be a non-empty string")
    return value


def _settable_field(name: Any, path: str) -> str:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise ActionError(path, f"must be a field name, got {name!r}")
    if name in PROTECTED_FIELDS:
        raise ActionError(path, f"field {name!r} cannot be set by an action (state moves use transitions)")
    return name


@dataclass(frozen=True)
class Action:
    """Base of automation actions."""

    type: ClassVar[str] = ""

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "Action":
        """Validate stored JSON and build the action."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        raise NotImplementedError

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        raise NotImplementedError


def _field_change(ticket: Mapping[str, Any], name: str, new: Any) -> list[Effect]:
    old = ticket.get(name)
    plain_old = old.value if isinstance(old, Enum) else old
    return [] if plain_old == new else [FieldChange(name, old, new)]


@dataclass(frozen=True)
class SetField(Action):
    """Set one field to a fixed value."""

    field: str
    value: Any
    type: ClassVar[str] = "set_field"

    def __post_init__(self) -> None:
        _settable_field(self.field, "field")

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "SetField":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"field", "value"})
        return cls(_settable_field(obj["field"], f"{path}.field"), obj["value"])

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {"type": self.type, "field": self.field, "value": self.value}

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        return _field_change(ticket, self.field, self.value)


@dataclass(frozen=True)
class AssignGroup(Action):
    """Assign to a group; the assignee is cleared because they belong to the previous group."""

    group: str
    keep_assignee: bool = False
    type: ClassVar[str] = "assign_group"

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "AssignGroup":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"group"}, optional={"keep_assignee"})
        keep = obj.get("keep_assignee", False)
        if not isinstance(keep, bool):
            raise ActionError(f"{path}.keep_assignee", "must be true or false")
        return cls(_non_empty_str(obj, "group", path), keep)

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {"type": self.type, "group": self.group, "keep_assignee": self.keep_assignee}

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        effects = _field_change(ticket, "assignment_group", self.group)
        if effects and not self.keep_assignee:
            effects += _field_change(ticket, "assigned_to", None)
        return effects


@dataclass(frozen=True)
class AssignUser(Action):
    """Assign to a user."""

    user: str
    type: ClassVar[str] = "assign_user"

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "AssignUser":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"user"})
        return cls(_non_empty_str(obj, "user", path))

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {"type": self.type, "user": self.user}

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        return _field_change(ticket, "assigned_to", self.user)


@dataclass(frozen=True)
class AddComment(Action):
    """Add a comment from a `{field}` template, internal (work note) or public."""

    body: str
    visibility: CommentVisibility = CommentVisibility.internal
    type: ClassVar[str] = "add_comment"

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "AddComment":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"body"}, optional={"visibility"})
        raw = obj.get("visibility", CommentVisibility.internal)
        try:
            visibility = CommentVisibility(raw)
        except ValueError:
            raise ActionError(
                f"{path}.visibility", f"must be one of {', '.join(CommentVisibility)}, got {raw!r}"
            ) from None
        return cls(_non_empty_str(obj, "body", path), visibility)

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {"type": self.type, "body": self.body, "visibility": str(self.visibility)}

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        return [CommentToAdd(render_template(self.body, ticket), self.visibility)]


DEFAULT_WEBHOOK_FIELDS = (
    "number",
    "record_type",
    "state",
    "priority",
    "short_description",
    "assignment_group",
)


@dataclass(frozen=True)
class NotifyWebhook(Action):
    """Send selected ticket fields as JSON to an http(s) URL."""

    url: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    fields: tuple[str, ...] = DEFAULT_WEBHOOK_FIELDS
    event: str = "ticket.rule_matched"
    type: ClassVar[str] = "notify_webhook"

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "NotifyWebhook":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"url"}, optional={"method", "headers", "fields", "event"})
        url = _non_empty_str(obj, "url", path)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ActionError(f"{path}.url", f"must be an http(s) URL with a host, got {url!r}")
        method = str(obj.get("method", "POST")).upper()
        if method not in WEBHOOK_METHODS:
            raise ActionError(f"{path}.method", f"must be one of {', '.join(sorted(WEBHOOK_METHODS))}")
        headers = obj.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ActionError(f"{path}.headers", "must be an object of string values")
        fields = obj.get("fields", list(DEFAULT_WEBHOOK_FIELDS))
        if not isinstance(fields, list) or not fields:
            raise ActionError(f"{path}.fields", "must be a non-empty list of field names")
        for index, name in enumerate(fields):
            if not isinstance(name, str) or not re.match(r"^[A-Za-z_][\w.]*$", name):
                raise ActionError(f"{path}.fields[{index}]", f"must be a field name, got {name!r}")
        event = obj.get("event", "ticket.rule_matched")
        if not isinstance(event, str) or not event:
            raise ActionError(f"{path}.event", "must be a non-empty string")
        return cls(url, method, tuple(sorted(headers.items())), tuple(fields), event)

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {
            "type": self.type,
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "fields": list(self.fields),
            "event": self.event,
        }

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        values = {}
        for name in self.fields:
            value = resolve(ticket, name)
            values[name] = None if value is MISSING else (value.value if isinstance(value, Enum) else value)
        payload = {"event": self.event, "ticket": values}
        return [WebhookToSend(self.url, self.method, payload, dict(self.headers))]


PROBLEM_COPY_FIELDS = (
    "category",
    "subcategory",
    "service",
    "assignment_group",
    "impact",
    "urgency",
    "priority",
)


@dataclass(frozen=True)
class CreateLinkedProblem(Action):
    """Create a problem from the ticket and link it (`problem_id`), unless one is already linked."""

    short_description_template: str
    copy_fields: tuple[str, ...] = PROBLEM_COPY_FIELDS
    type: ClassVar[str] = "create_linked_problem"

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "CreateLinkedProblem":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required={"short_description_template"}, optional={"copy_fields"})
        template = _non_empty_str(obj, "short_description_template", path)
        copy = obj.get("copy_fields", list(PROBLEM_COPY_FIELDS))
        if not isinstance(copy, list):
            raise ActionError(f"{path}.copy_fields", "must be a list of field names")
        for index, name in enumerate(copy):
            _settable_field(name, f"{path}.copy_fields[{index}]")
        return cls(template, tuple(copy))

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {
            "type": self.type,
            "short_description_template": self.short_description_template,
            "copy_fields": list(self.copy_fields),
        }

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        if ticket.get("problem_id"):
            return []
        fields: dict[str, Any] = {
            "short_description": render_template(self.short_description_template, ticket)
        }
        number = ticket.get("number")
        if number:
            fields["description"] = f"Created from {number}."
        for name in self.copy_fields:
            value = ticket.get(name)
            if value is not None:
                fields[name] = value.value if isinstance(value, Enum) else value
        return [RecordToCreate(RecordType.problem, fields, link_field="problem_id")]


@dataclass(frozen=True)
class RequestApproval(Action):
    """Ask a user or a group (exactly one of them) to approve a change or service request. They join the
    record's open round of approvals (its policy kept) or start one; nothing is planned once the record is
    approved, and an approver the open round already asks is not asked twice."""

    user: str | None = None
    group: str | None = None
    type: ClassVar[str] = "request_approval"
    RECORD_TYPES: ClassVar[tuple[str, ...]] = (RecordType.change, RecordType.service_request)

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "action") -> "RequestApproval":
        """Validate stored JSON and build the action."""
        obj = _require_mapping(obj, path)
        _check_keys(obj, path, required=set(), optional={"user", "group"})
        named = [key for key in ("user", "group") if obj.get(key) is not None]
        if len(named) != 1:
            raise ActionError(f"{path}.user", "name exactly one approver: a user or a group")
        key = named[0]
        value = _non_empty_str(obj, key, path)
        return cls(user=value) if key == "user" else cls(group=value)

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {"type": self.type, "user": self.user, "group": self.group}

    def plan(self, ticket: Mapping[str, Any]) -> list[Effect]:
        """The effects the action would have on `ticket`, applying nothing."""
        if _text(ticket.get("approval")) == "approved":
            return []
        return [ApprovalToAsk(approver=self.user, group=self.group)]


ACTIONS: dict[str, type[Action]] = {
    cls.type: cls
    for cls in (
        SetField,
        AssignGroup,
        AssignUser,
        AddComment,
        NotifyWebhook,
        CreateLinkedProblem,
        RequestApproval,
    )
}


def parse_action(obj: Any, *, path: str = "action") -> Action:
    """Build the action named by `obj["type"]`, raising ActionError naming the bad part."""
    obj = _require_mapping(obj, path)
    name = obj.get("type")
    if name not in ACTIONS:
        raise ActionError(f"{path}.type", f"unknown action {name!r}; expected one of {', '.join(ACTIONS)}")
    return ACTIONS[name].from_json(obj, path=path)


def plan_actions(actions: list[Action], ticket: Mapping[str, Any]) -> list[Effect]:
    """The effects of several actions in order, each planned on the ticket as changed by the previous ones."""
    current = dict(ticket)
    effects: list[Effect] = []
    for action in actions:
        planned = action.plan(current)
        for effect in planned:
            if isinstance(effect, FieldChange):
                current[effect.field] = effect.new
            elif isinstance(effect, RecordToCreate) and effect.link_field:
                # The id is unknown until the engine creates the record; mark the link as pending.
                current[effect.link_field] = "<pending>"
        effects.extend(planned)
    return effects
