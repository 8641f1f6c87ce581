"""Approval endpoints: request on a change or service request, list mine, approve or reject."""

from __future__ import annotations

from fastapi import APIRouter, status

from itsm_ai.approval import service
from itsm_ai.approval.models import ApprovalDecision, ApprovalRead, ApprovalRequest
from itsm_ai.auth.dependencies import CurrentUser, StaffUser
from itsm_ai.database import DbSession
from itsm_ai.inputs import RowId
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action
from itsm_ai.ticket.service import CHANGE, SERVICE_REQUEST

router = APIRouter(tags=["approvals"])


def _add_record_routes(spec) -> None:
    @router.post(
        f"/{spec.path}/{{ref}}/approvals",
        response_model=list[ApprovalRead],
        status_code=status.HTTP_201_CREATED,
        summary=f"Ask for approval of a {spec.noun}",
        name=f"request_{spec.record_type}_approval",
    )
    def request_approval(ref: str, body: ApprovalRequest, db_session: DbSession, user: StaffUser):
        obj = record_service.get(db_session=db_session, spec=spec, ref=ref)
        created = service.request(db_session=db_session, spec=spec, obj=obj, request_in=body, actor=user)
        return [service.to_read(a, obj.number) for a in created]

    @router.get(
        f"/{spec.path}/{{ref}}/approvals",
        response_model=list[ApprovalRead],
        summary=f"Approvals of a {spec.noun}",
        name=f"list_{spec.record_type}_approvals",
    )
    def list_approvals(ref: str, db_session: DbSession, user: CurrentUser):
        obj = record_service.get_for(db_session=db_session, spec=spec, ref=ref, user=user, action=Action.read)
        rows = service.list_for_record(db_session=db_session, record_type=spec.record_type, record_id=obj.id)
        return [service.to_read(a, obj.number) for a in rows]


for _spec in (CHANGE, SERVICE_REQUEST):
    _add_record_routes(_spec)


@router.get("/approvals", response_model=list[ApprovalRead], summary="Approvals waiting for my decision")
def my_approvals(db_session: DbSession, user: CurrentUser):
    return [
        service.to_read(a, service.record_number(db_session=db_session, approval=a))
        for a in service.pending_for(db_session=db_session, user=user)
    ]


@router.post("/approvals/{approval_id}/approve", response_model=ApprovalRead, summary="Approve")
def approve(approval_id: RowId, body: ApprovalDecision, db_session: DbSession, user: CurrentUser):
    approval = service.get(db_session=db_session, approval_id=approval_id)
    service.decide(db_session=db_session, approval=approval, approve=True, decision=body, actor=user)
    return service.to_read(approval, service.record_number(db_session=db_session, approval=approval))


@router.post("/approvals/{approval_id}/reject", response_model=ApprovalRead, summary="Reject")
def reject(approval_id: RowId, body: ApprovalDecision, db_session: DbSession, user: CurrentUser):
    approval = service.get(db_session=db_session, approval_id=approval_id)
    service.decide(db_session=db_session, approval=approval, approve=False, decision=body, actor=user)
    return service.to_read(approval, service.record_number(db_session=db_session, approval=approval))
