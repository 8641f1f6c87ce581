"""Triage on ticket create: suggestions stored with the new ticket, applied in `auto` mode and audited.

`on_record_creating` (engine BEFORE_CREATE) stores `suggestions["fields"]` (and the challengers' shadow
predictions) with the new ticket, and in `auto` mode sets a field when the suggestion clears its class
threshold; `on_record_event` (engine LISTENERS) then audits each applied value as set by the model.
Agents' accept/override lives in `feedback`, background training in `jobs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.classify.enums import FieldMode, SuggestionStatus
from itsm_ai.classify.estimators.text import ticket_text
from itsm_ai.classify.serving.shadow import shadow_predictions
from itsm_ai.classify.serving.suggestions import field_mode, suggest_fields
from itsm_ai.config import get_settings
from itsm_ai.records.events import RecordEvent

log = logging.getLogger(__name__)

MODEL_SOURCE = "model"


@dataclass(frozen=True)
class ModelActor:
    """Who the audit trail names for a value the model set: model:<name>@<version>."""

    name: str
    version: str | None

    @property
    def id(self) -> None:
        """No user row: the audit event keeps only the name."""
        return None

    @property
    def username(self) -> str:
        """model:<name>@<version>, as the audit trail shows it."""
        return f"model:{self.name}@{self.version}"


# ------------------------------------------------------------------------------------------ priority


def priority_inputs(*, db_session: Session, obj: Any, priority: int) -> tuple[int, int] | None:
    """Impact and urgency that give a priority through the matrix, changing as little as possible."""
    from itsm_ai.workflow.service import priority_matrix

    matrix, _ = priority_matrix(db_session=db_session)
    impact, urgency = obj.impact or 3, obj.urgency or 3
    pairs = [(i, u) for i in (1, 2, 3) for u in (1, 2, 3)]
    # Prefer keeping the impact (the business effect), then the urgency, then the smallest move.
    pairs.sort(key=lambda p: (p[0] != impact, p[1] != urgency, abs(p[0] - impact) + abs(p[1] - urgency)))
    for i, u in pairs:
        if int(matrix.priority(i, u)) == int(priority):
            return i, u
    return None


# ------------------------------------------------------------------------------------------ listeners


def _current(obj: Any, target: str) -> Any:
    if target == "assignment_group":
        return obj.assignment_group_id
    return getattr(obj, target, None)


def _apply(db_session: Session, obj: Any, target: str, value: Any) -> str | None:
    """Set a suggested value on a new ticket; returns why it could not be set (or None)."""
    from itsm_ai.group.models import Group

    if target == "assignment_group":
        group = db_session.scalar(select(Group).where(Group.name == str(value)))
        if group is None:
            return f"no group named {value!r}"
        obj.assignment_group_id = group.id
        obj.assignment_group_ref = group
    elif target == "priority":
        inputs = priority_inputs(db_session=db_session, obj=obj, priority=value)
        if inputs is None:
            return f"no impact and urgency give priority {value!r}"
        obj.impact, obj.urgency = inputs
        obj.priority = int(value)
    elif target in ("impact", "urgency"):
        from itsm_ai.workflow.service import compute_priority

        setattr(obj, target, int(value))
        obj.priority = compute_priority(db_session=db_session, impact=obj.impact, urgency=obj.urgency)
    elif hasattr(obj, target):
        setattr(obj, target, value)
    else:
        return f"tickets have no field {target!r}"
    return None


def prepare_create(record_type: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """Preparer: the triage predictions of a new ticket's text, computed before its transaction begins."""
    settings = get_settings()
    if record_type not in settings.triage_record_types:
        return None
    text = ticket_text(values.get("short_description"), values.get("description"))
    return {
        "classify.text": text,
        "classify.fields": suggest_fields(text, settings=settings),
        "classify.shadow": shadow_predictions(text, settings=settings),
    }


def on_record_creating(db_session: Session, event: RecordEvent) -> None:
    """Compute triage suggestions for a new ticket (before its INSERT) and auto-apply where configured."""
    settings = get_settings()
    if event.kind != "creating" or event.record_type not in settings.triage_record_types:
        return
    obj = event.record
    text = ticket_text(obj.short_description, getattr(obj, "description", None))
    prepared = event.prepared
    if prepared.get("classify.text") == text:
        fields, shadow = prepared["classify.fields"], prepared["classify.shadow"]
    else:  # a create hook changed the text, or the caller prepared nothing (importer, mail, chat)
        fields, shadow = suggest_fields(text, settings=settings), shadow_predictions(text, settings=settings)
    for target, entry in fields.items():
        if (
            entry["status"] == SuggestionStatus.suggested
            and field_mode(target, settings) == FieldMode.auto
            and _current(obj, target) in (None, "")
        ):
            problem = _apply(db_session, obj, target, entry["value"])
            if problem is None:
                entry["status"] = str(SuggestionStatus.applied)
            else:
                log.info("triage could not apply %s=%r: %s", target, entry["value"], problem)
    merged = dict(obj.suggestions or {})
    merged["fields"] = fields
    if shadow:
        merged["shadow"] = shadow
    obj.suggestions = merged


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Audit each value the model applied to a new ticket, naming the model and version."""
    if event.kind != "created":
        return
    fields = ((getattr(event.record, "suggestions", None) or {}).get("fields")) or {}
    for target, entry in fields.items():
        if isinstance(entry, dict) and entry.get("status") == SuggestionStatus.applied:
            audit_service.record_event(
                db_session=db_session,
                record_type=event.record_type,
                record_id=event.record.id,
                actor=ModelActor(entry.get("model") or target, entry.get("version")),
                action="update",
                field=target,
                old=None,
                new=entry.get("value"),
                source=MODEL_SOURCE,
            )
