"""Approvals asked without an agent: a service request for an item that requires approval asks the item's
approvers (a named user, a group, the caller's manager) as soon as it is created."""

from __future__ import annotations

from sqlalchemy.orm import Session

from itsm_ai.approval import service
from itsm_ai.approval.enums import RecordApproval
from itsm_ai.approval.models import ApprovalRequest
from itsm_ai.auth import service as user_service
from itsm_ai.auth.models import User
from itsm_ai.base import spec_registry
from itsm_ai.errors import InvalidInputError
from itsm_ai.records.events import RecordEvent
from itsm_ai.ticket.service import SERVICE_REQUEST

ITEM = "catalog item"
MANAGER = "caller's manager"


def item_approvers(item, *, caller: User | None) -> list[tuple[ApprovalRequest, str]]:
    """Whom an item's requests are asked to approve, each with the reason shown ([] for nobody).

    Never the caller (separation of duties). The caller's manager when the item asks for them; a caller
    without an active manager leaves the item's named approver and group to decide, and with neither named
    the request is refused (InvalidInputError on `caller`): nobody could ever approve it.
    """
    if item is None or not item.requires_approval:
        return []
    caller_id = caller.id if caller is not None else None
    out = []
    if item.approval_by_manager:
        manager = caller.manager_ref if caller is not None else None
        if manager is not None and manager.active and manager.id != caller_id:
            out.append((ApprovalRequest(approvers=[manager.username]), MANAGER))
        elif item.approver_ref is None and item.approval_group_ref is None:
            if caller is None:
                why = "the request names no caller"
            elif manager is None:
                why = f"{caller.username} has no manager"
            else:
                why = f"{caller.username}'s manager {manager.username} is deactivated"
            raise InvalidInputError(
                f"caller: {item.name} needs approval by the caller's manager and {why}; an admin sets the "
                "manager (PATCH /api/v1/users/{username} with manager)",
                field="caller",
            )
    approver = item.approver_ref
    # A deactivated approver cannot sign in to decide.
    named = approver is not None and approver.active and approver.id != caller_id
    users = [approver.username] if named else []
    groups = [item.approval_group_ref.name] if item.approval_group_ref is not None else []
    if users or groups:
        out.append((ApprovalRequest(approvers=users, groups=groups), ITEM))
    return out


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """On a new service request whose item requires approval and names its approvers: ask them."""
    if event.kind != "created" or event.record_type != SERVICE_REQUEST.record_type:
        return
    obj = event.record
    if obj.state in {"closed", "cancelled", "rejected"}:
        return
    decided = (obj.approval or RecordApproval.not_requested) != RecordApproval.not_requested
    # A rule that asked an approver in the same write opened the round the item's approvers join; any other
    # decision came with the request (an import, an agent's back-dated request).
    if decided and not _asked_by_rules_only(db_session, obj):
        return
    for asked, reason in item_approvers(obj.catalog_item_ref, caller=obj.caller_ref):
        # Else it stays "needed" until an agent names an approver.
        service.add_approvers(
            db_session=db_session, spec=SERVICE_REQUEST, obj=obj, request_in=asked, actor=None, reason=reason
        )


def _asked_by_rules_only(db_session: Session, obj) -> bool:
    rows = service.list_for_record(
        db_session=db_session, record_type=SERVICE_REQUEST.record_type, record_id=obj.id
    )
    return bool(rows) and all((r.reason or "").startswith(service.RULE_REASON) for r in rows)


def ask_for_rule(db_session: Session, record_type: str, obj, effect, *, reason: str) -> None:
    """Carry out an automation rule's "request approval" effect: the user or group joins the open round."""
    spec = spec_registry.get(record_type)
    if effect.approver:
        user = user_service.get_by_username(db_session=db_session, username=effect.approver)
        if user is not None and not user.active:
            # Saved when active, deactivated since: asking them would leave the request waiting forever.
            raise InvalidInputError(f"approvers: {effect.approver} is deactivated", field="approvers")
    asked = ApprovalRequest(
        approvers=[effect.approver] if effect.approver else [], groups=[effect.group] if effect.group else []
    )
    service.add_approvers(
        db_session=db_session, spec=spec, obj=obj, request_in=asked, actor=None, reason=reason
    )
