"""What automation actions plan: descriptive effects (a field change, a comment, a webhook call, a record to
create) that the engine applies and a dry run only shows (see `itsm_ai.workflow.actions`)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from itsm_ai.base.record_types import RecordType


class CommentVisibility(StrEnum):
    """Who sees a comment: agents only (a work note) or the requester too."""

    internal = "internal"
    public = "public"


@dataclass(frozen=True)
class Effect:
    """Something the engine would do; `describe()` is the dry-run line."""

    kind: ClassVar[str] = "effect"

    def describe(self) -> str:
        """A one-line human description."""
        raise NotImplementedError


@dataclass(frozen=True)
class FieldChange(Effect):
    """Set `field` from `old` to `new`."""

    field: str
    old: Any
    new: Any
    kind: ClassVar[str] = "field_change"

    def describe(self) -> str:
        """A one-line human description."""
        return f"set {self.field}: {self.old!r} -> {self.new!r}"


@dataclass(frozen=True)
class CommentToAdd(Effect):
    """Add a comment with `visibility` (internal work note or public)."""

    body: str
    visibility: CommentVisibility
    kind: ClassVar[str] = "comment"

    def describe(self) -> str:
        """A one-line human description."""
        return f"add {self.visibility} comment: {self.body[:80]!r}"


@dataclass(frozen=True)
class WebhookToSend(Effect):
    """Send `payload` as JSON to `url`."""

    url: str
    method: str
    payload: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = "webhook"

    def describe(self) -> str:
        """A one-line human description."""
        return f"{self.method} {self.url} with {len(self.payload)} payload keys"


@dataclass(frozen=True)
class RecordToCreate(Effect):
    """Create a `record_type` record with `fields`, then store its id in the source ticket's `link_field`."""

    record_type: RecordType
    fields: Mapping[str, Any]
    link_field: str | None = None
    kind: ClassVar[str] = "create_record"

    def describe(self) -> str:
        """A one-line human description."""
        link = f" and link it as {self.link_field}" if self.link_field else ""
        return f"create {self.record_type} {self.fields.get('short_description', '')!r}{link}"


@dataclass(frozen=True)
class ApprovalToAsk(Effect):
    """Ask a user or a group (any member decides) to approve the record; they join an open round."""

    approver: str | None = None
    group: str | None = None
    kind: ClassVar[str] = "approval"

    def describe(self) -> str:
        """A one-line human description."""
        who = self.approver if self.approver is not None else f"group {self.group}"
        return f"ask {who} to approve"
