"""The workflow engine's entry points for the store: enforce lifecycles on every write."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session, object_session

from itsm_ai.audit import service as audit_service
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.errors import ConflictError, InvalidInputError
from itsm_ai.workflow import transitions
from itsm_ai.workflow.models import PriorityMatrixRead, WorkflowSetting
from itsm_ai.workflow.priority import DEFAULT_MATRIX, PriorityMatrix

PRIORITY_MATRIX_KEY = "priority_matrix"
_matrix_cache: dict[str, tuple[int, Any, PriorityMatrix]] = {}
_matrix_lock = threading.Lock()

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
    values = {name: getattr(obj, name) for name in WORKFLOW_FIELDS if hasattr(obj, name)}
    item = getattr(obj, "catalog_item_ref", None)
    if item is None and getattr(obj, "catalog_item_id", None) is not None:
        session = object_session(obj)
        item = session.get(CatalogItem, obj.catalog_item_id) if session is not None else None
    values["requires_approval"] = bool(item is not None and item.requires_approval)
    return values


def enforce_transition(*, record_type: str, from_state: str | None, obj: Any) -> None:
    """Refuse a move the lifecycle table does not allow (409) or whose required fields are missing (422)."""
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


def priority_matrix(*, db_session: Session) -> tuple[PriorityMatrix, int]:
    """The configured priority matrix and its version (0 = the ServiceNow default, never changed)."""
    row = db_session.get(WorkflowSetting, PRIORITY_MATRIX_KEY)
    if row is None:
        return DEFAULT_MATRIX, 0
    with _matrix_lock:
        cached = _matrix_cache.get(PRIORITY_MATRIX_KEY)
        # The stored value is part of the key: another database (a restore, a second store in one process)
        # can hold a different matrix under the same version number.
        if cached is None or cached[0] != row.version or cached[1] != row.value:
            cached = (row.version, row.value, PriorityMatrix.from_json(row.value))
            _matrix_cache[PRIORITY_MATRIX_KEY] = cached
    return cached[2], row.version


def priority_matrix_read(*, db_session: Session) -> PriorityMatrixRead:
    """The priority matrix as the API shows it: the matrix, its version and when it last changed."""
    matrix, version = priority_matrix(db_session=db_session)
    row = db_session.get(WorkflowSetting, PRIORITY_MATRIX_KEY)
    return PriorityMatrixRead(
        matrix=matrix.to_json(), version=version, updated_at=row.updated_at if row else None
    )


def compute_priority(*, db_session: Session, impact: int, urgency: int) -> int:
    """Priority from impact x urgency through the configured matrix."""
    matrix, _ = priority_matrix(db_session=db_session)
    return int(matrix.priority(impact, urgency))


def set_priority_matrix(
    *, db_session: Session, matrix_json: dict, version: int, actor
) -> tuple[PriorityMatrix, int]:
    """Replace the priority matrix (versioned; stale -> 409, invalid -> 422). Existing tickets keep theirs."""
    try:
        matrix = PriorityMatrix.from_json(matrix_json)
    except ValueError as exc:
        raise InvalidInputError(f"matrix: {exc}", field="matrix") from exc
    old, current = priority_matrix(db_session=db_session)
    if version != current:
        raise ConflictError(
            f"the priority matrix was changed by someone else (version {current}); reload and retry",
            field="version",
        )
    row = db_session.get(WorkflowSetting, PRIORITY_MATRIX_KEY)
    if row is None:
        row = WorkflowSetting(key=PRIORITY_MATRIX_KEY, value=matrix.to_json(), updated_by_id=actor.id)
        db_session.add(row)
    else:
        row.value = matrix.to_json()
        row.updated_by_id = actor.id
    db_session.flush()
    audit_service.record_event(
        db_session=db_session,
        record_type="workflow_setting",
        record_id=0,
        actor=actor,
        action="update",
        field=PRIORITY_MATRIX_KEY,
        old=old.to_json(),
        new=matrix.to_json(),
    )
    return matrix, row.version
