"""Workflow configuration endpoints (admins change, staff read)."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.auth.dependencies import AdminUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.workflow import service, transitions
from itsm_ai.workflow.models import PriorityMatrixRead, PriorityMatrixUpdate

router = APIRouter(prefix="/config", tags=["configuration"])


@router.get("/priority-matrix", response_model=PriorityMatrixRead, summary="Impact x urgency -> priority")
def get_priority_matrix(db_session: DbSession, user: StaffUser):
    return service.priority_matrix_read(db_session=db_session)


@router.put("/priority-matrix", response_model=PriorityMatrixRead, summary="Replace the priority matrix")
def put_priority_matrix(body: PriorityMatrixUpdate, db_session: DbSession, admin: AdminUser):
    service.set_priority_matrix(
        db_session=db_session, matrix_json=body.matrix, version=body.version, actor=admin
    )
    return service.priority_matrix_read(db_session=db_session)


@router.get("/lifecycles", summary="Every record type's states and allowed transitions")
def lifecycles(user: StaffUser):
    return {
        str(rt): {state: list(transitions.allowed_next(rt, state)) for state in transitions.states(rt)}
        for rt in transitions.TRANSITIONS
    }
