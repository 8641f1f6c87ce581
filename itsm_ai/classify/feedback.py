"""Agents' feedback on suggestions: accept the suggested value or override it. The field is set through
the normal (audited, version-checked) update, the feedback is kept on the ticket's suggestion, and the final
value is stored in triage_feedback as a training label (the latest one wins, see `training_data`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.classify.enums import FeedbackAction
from itsm_ai.classify.flows import priority_inputs
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError

# Fields feedback can set through the normal update path (priority goes through impact and urgency).
SETTABLE_FIELDS = ("category", "subcategory", "assignment_group", "priority", "impact", "urgency")


def record_feedback(
    *,
    db_session: Session,
    record_type: str,
    record_id: int,
    field_name: str,
    suggested: Any,
    final: Any,
    action: str,
    model: str | None,
    version: str | None,
    user,
) -> None:
    """Store one accept/override as a training label."""
    from itsm_ai.classify.models import TriageFeedback

    db_session.add(
        TriageFeedback(
            record_type=record_type,
            record_id=record_id,
            field=field_name,
            suggested_value=suggested,
            final_value=final,
            action=str(action),
            model=model,
            model_version=version,
            user_id=getattr(user, "id", None),
            username=getattr(user, "username", None),
            at=utcnow(),
        )
    )


def _check_value(db_session: Session, field_name: str, value: Any) -> Any:
    """Validate an override value for a field; 422 naming `value`."""
    from itsm_ai.group.models import Group

    if field_name in ("priority", "impact", "urgency"):
        top = 5 if field_name == "priority" else 3
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.isdigit())
        ):
            raise InvalidInputError(f"value: {field_name} must be a whole number 1-{top}", field="value")
        value = int(value)
        if not 1 <= value <= top:
            raise InvalidInputError(f"value: {field_name} must be 1-{top}, got {value}", field="value")
        return value
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"value: {field_name} needs a non-empty text value", field="value")
    value = value.strip()
    if len(value) > 80:
        raise InvalidInputError(f"value: at most 80 characters for {field_name}", field="value")
    if (
        field_name == "assignment_group"
        and db_session.scalar(select(Group.id).where(Group.name == value)) is None
    ):
        raise InvalidInputError(f"value: no group {value!r}", field="value")
    return value


def _known_label(db_session: Session, spec, field_name: str, entry: dict[str, Any], value: str) -> bool:
    """Whether a category value is one the suggestion, its model or the stored tickets already know."""
    offered = [entry.get("value")] + [
        a.get("value") for a in entry.get("alternatives") or [] if isinstance(a, dict)
    ]
    if value in offered:
        return True
    if entry.get("model"):
        from itsm_ai.registry import store

        try:
            meta = store.read_metadata(entry["model"], entry.get("version"))
        except Exception:  # a removed or unreadable model version: the store's values still count
            meta = {}
        if value in [str(c) for c in meta.get("classes") or []]:
            return True
    column = getattr(spec.model, field_name)
    return db_session.scalar(select(spec.model.id).where(column == value).limit(1)) is not None


def give_feedback(
    *,
    db_session: Session,
    spec,
    obj: Any,
    field_name: str,
    action: FeedbackAction,
    user,
    value: Any = None,
    version: int | None = None,
) -> Any:
    """Accept the suggested value or override it: set the field through the normal (audited, version-checked)
    update, and record the feedback on the ticket's suggestion and in triage_feedback."""
    from itsm_ai.records import service as records

    suggestions = dict(obj.suggestions or {})
    fields = dict(suggestions.get("fields") or {})
    entry = fields.get(field_name)
    if field_name not in SETTABLE_FIELDS:
        raise InvalidInputError(
            f"field: {field_name!r} cannot take feedback; one of {', '.join(SETTABLE_FIELDS)}", field="field"
        )
    if not isinstance(entry, dict):
        raise InvalidInputError(
            f"field: {getattr(obj, 'number', obj.id)} has no suggestion for {field_name}", field="field"
        )
    if action == FeedbackAction.accepted:
        value = entry.get("value")
        if value is None:
            raise ConflictError(
                f"field: there is no suggested {field_name} to accept ({entry.get('status')}: "
                f"{entry.get('reason')}); override it with the right value instead",
                field="field",
            )
    value = _check_value(db_session, field_name, value)
    if field_name in ("category", "subcategory") and not _known_label(
        db_session, spec, field_name, entry, value
    ):
        # An override is a training label: a typo or a new free-text name would teach the model a class
        # nobody uses, so only a value the model or the store already knows is taken.
        raise InvalidInputError(
            f"value: {value!r} is not a known {field_name}; pick one the model suggests or tickets use",
            field="value",
        )
    if version is None:
        version = obj.version
    data: dict[str, Any] = {"version": version}
    if field_name == "priority":
        inputs = priority_inputs(db_session=db_session, obj=obj, priority=value)
        if inputs is None:
            raise InvalidInputError(f"value: no impact and urgency give priority {value}", field="value")
        data["impact"], data["urgency"] = inputs
    else:
        data[field_name] = value
    if version != obj.version:  # refuse before touching the suggestions; records.update says the same
        records.update(db_session=db_session, spec=spec, obj=obj, data={"version": version}, actor=user)
    at = utcnow()
    fields[field_name] = {
        **entry,
        "feedback": {
            "action": str(action),
            "value": value,
            "by": getattr(user, "username", None),
            "at": at.isoformat(timespec="seconds"),
        },
    }
    suggestions["fields"] = fields
    obj.suggestions = suggestions
    records.update(db_session=db_session, spec=spec, obj=obj, data=data, actor=user)
    record_feedback(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        field_name=field_name,
        suggested=entry.get("value"),
        final=value,
        action=action,
        model=entry.get("model"),
        version=entry.get("version"),
        user=user,
    )
    db_session.flush()  # the response must show the version this write produced
    return obj
