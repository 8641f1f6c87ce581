"""Approvals asked without an agent: a service request for an item that requires approval asks the item's
approvers as soon as it is created."""

from __future__ import annotations

from sqlalchemy.orm import Session

from itsm_ai.approval import service
from itsm_ai.approval.enums import RecordApproval
from itsm_ai.approval.models import ApprovalRequest
from itsm_ai.records.events import RecordEvent
from itsm_ai.ticket.service import SERVICE_REQUEST


def item_approvers(item, *, caller_id: int | None) -> ApprovalRequest | None:
    """Whom an item's requests are asked to approve (never the caller: separation of duties), or None."""
    if item is None or not item.requires_approval:
        return None
    approver = item.approver_ref
    # The caller never approves their own request; a deactivated approver cannot sign in to decide.
    named = approver is not None and approver.active and approver.id != caller_id
    users = [approver.username] if named else []
    groups = [item.approval_group_ref.name] if item.approval_group_ref is not None else []
    if not users and not groups:
        return None
    return ApprovalRequest(approvers=users, groups=groups)


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """On a new service request whose item requires approval and names its approvers: ask them."""
    if event.kind != "created" or event.record_type != SERVICE_REQUEST.record_type:
        return
    obj = event.record
    decided = (obj.approval or RecordApproval.not_requested) != RecordApproval.not_requested
    if decided or obj.state in {"closed", "cancelled", "rejected"}:
        return  # created with a decision already (an import, an agent's back-dated request)
    asked = item_approvers(obj.catalog_item_ref, caller_id=obj.caller_id)
    if asked is not None:  # else it stays "needed" until an agent names an approver
        service.request(db_session=db_session, spec=SERVICE_REQUEST, obj=obj, request_in=asked, actor=None)
