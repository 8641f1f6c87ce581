"""The workflow engine's entry points for the store: enforce lifecycles on every write."""

from __future__ import annotations

from typing import Any

from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.workflow import transitions

WORKFLOW_FIELDS = (
    "on_hold_reason",
    "resolution_code",
    "resolution_notes",
    "workaround",
    "implementation_plan",
    "backout_plan",
    "change_type",
    "approval",
)


def values_of(obj: Any) -> dict[str, Any]:
    """The field values of a record that transition requirements look at."""
    return {name: getattr(obj, name) for name in WORKFLOW_FIELDS if hasattr(obj, name)}


def enforce_transition(*, record_type: str, from_state: str | None, obj: Any) -> None:
    """Refuse a state change the lifecycle table does not allow (409) or whose required fields are missing (422)."""
    to_state = obj.state
    if from_state is None:
        from_state = transitions.initial_state(record_type)
    if from_state == to_state:
        return
    values = values_of(obj)
    try:
        transitions.check_transition(
            record_type, str(from_state), str(to_state), values, approved=values.get("approval") == "approved"
        )
    except transitions.TransitionError as exc:
        details = {"allowed": exc.allowed, "missing_fields": exc.missing_fields}
        if exc.missing_fields or exc.invalid_fields:
            field = (exc.missing_fields or exc.invalid_fields)[0]
            raise InvalidInputError(f"{field}: {exc.message}", field=field, details=details) from exc
        raise ConflictError(exc.message, field="state", details=details) from exc
