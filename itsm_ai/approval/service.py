"""Requesting and deciding approvals; the record moves on when its policy is satisfied."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from itsm_ai.approval.enums import ApprovalPolicy, ApprovalState, RecordApproval
from itsm_ai.approval.models import Approval, ApprovalDecision, ApprovalRead, ApprovalRequest
from itsm_ai.audit import service as audit_service
from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth import service as user_service
from itsm_ai.base import spec_registry
from itsm_ai.database import utcnow
from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from itsm_ai.group import service as group_service
from itsm_ai.group.models import group_members
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import RecordSpec
from itsm_ai.workflow import transitions

# Where a record goes when approval is asked for, granted or refused (only where the lifecycle allows).
ON_REQUEST = {"change": "authorize", "service_request": "approval"}
ON_APPROVED = {"change": "scheduled", "service_request": "fulfilment"}
ON_REJECTED = {"change": "draft", "service_request": "rejected"}
# The reason an automation rule's approvals carry starts with this ("rule 3: VIP changes").
RULE_REASON = "rule "


def record_number(*, db_session: Session, approval: Approval) -> str | None:
    """The number of the record an approval is about (None once the record is gone)."""
    obj = db_session.get(spec_registry.get(approval.record_type).model, approval.record_id)
    return obj.number if obj else None


def to_read(approval: Approval, number: str | None = None) -> ApprovalRead:
    """API view of an approval."""
    return ApprovalRead(
        id=approval.id,
        record_type=approval.record_type,
        record_id=approval.record_id,
        number=number,
        round=approval.round,
        policy=approval.policy,
        approver=approval.approver.username if approval.approver else None,
        approver_group=approval.approver_group.name if approval.approver_group else None,
        state=approval.state,
        comment=approval.comment,
        decided_by=approval.decided_by.username if approval.decided_by else None,
        decided_at=approval.decided_at,
        created_at=approval.created_at,
        reason=approval.reason,
    )


def _move_if_allowed(db_session: Session, spec: RecordSpec, obj: Any, target: str, actor, **fields) -> None:
    """Set fields and move to `target` when the lifecycle allows it; otherwise only set the fields."""
    values = dict(fields)
    probe = {
        **{k: getattr(obj, k, None) for k in ("implementation_plan", "backout_plan", "change_type")},
        **fields,
    }
    try:
        transitions.check_transition(
            spec.record_type,
            obj.state,
            target,
            probe,
            approved=fields.get("approval") == RecordApproval.approved,
        )
        if obj.state != target:
            values["state"] = target
    except transitions.TransitionError:
        pass
    values["version"] = obj.version
    record_service.update(
        db_session=db_session, spec=spec, obj=obj, data=values, actor=actor, source="approval"
    )


def _creator_id(db_session: Session, record_type: str, record_id: int) -> int | None:
    return db_session.scalar(
        select(AuditEvent.actor_id)
        .where(
            AuditEvent.record_type == record_type,
            AuditEvent.record_id == record_id,
            AuditEvent.action == "create",
        )
        .order_by(AuditEvent.id)
        .limit(1)
    )


def owners(db_session: Session, record_type: str, obj: Any, *, deciding: bool) -> dict[int, str]:
    """Who may not approve a record (separation of duties), by user id: the person it is for; when deciding
    a change also its assignee and whoever created it (they may still ask the CAB, which names them)."""
    out: dict[int, str] = {}
    if getattr(obj, "caller_id", None) is not None:
        out[obj.caller_id] = "requested it"
    if deciding and record_type == "change":
        if obj.assigned_to_id is not None:
            out.setdefault(obj.assigned_to_id, "is assigned to it")
        creator = _creator_id(db_session, record_type, obj.id)
        if creator is not None:
            out.setdefault(creator, "created it")
    return out


def _approvers(db_session: Session, spec: RecordSpec, obj: Any, request_in: ApprovalRequest):
    """The named users and groups, checked: they exist, and no user is barred from this record (422)."""
    if spec.record_type not in ON_REQUEST:
        raise InvalidInputError(f"{spec.noun} records do not take approvals", field="record_type")
    if obj.state in {"closed", "cancelled", "rejected"}:
        raise ConflictError(
            f"{obj.number} is {obj.state}: approvals can no longer be requested", field="state"
        )
    users = []
    for name in dict.fromkeys(request_in.approvers):
        user = user_service.get_by_username(db_session=db_session, username=name)
        if user is None:
            raise InvalidInputError(f"approvers: no user {name!r}", field="approvers")
        users.append(user)
    barred = owners(db_session, spec.record_type, obj, deciding=False)
    for user in users:
        if user.id in barred:
            raise InvalidInputError(
                f"approvers: {user.username} {barred[user.id]} and cannot approve {obj.number}",
                field="approvers",
            )
    groups = []
    for name in dict.fromkeys(request_in.groups):
        group = group_service.get_by_name(db_session=db_session, name=name)
        if group is None:
            raise InvalidInputError(f"groups: no group {name!r}", field="groups")
        groups.append(group)
    return users, groups


def _ask(db_session, spec, obj, users, groups, *, rnd: int, policy: str, actor, reason, joined: bool):
    """Insert one approval per user and group in round `rnd`, audit it, and move the record on."""
    created = [
        Approval(
            record_type=spec.record_type,
            record_id=obj.id,
            round=rnd,
            policy=policy,
            approver_id=u.id,
            requested_by_id=actor.id if actor else None,
            reason=reason,
        )
        for u in users
    ] + [
        Approval(
            record_type=spec.record_type,
            record_id=obj.id,
            round=rnd,
            policy=policy,
            approver_group_id=g.id,
            requested_by_id=actor.id if actor else None,
            reason=reason,
        )
        for g in groups
    ]
    db_session.add_all(created)
    db_session.flush()
    who = [u.username for u in users] + [f"group:{g.name}" for g in groups]
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="approval_requested",
        field="approval",
        new=(
            f"round {rnd}{' (added)' if joined else ''}, policy {policy}: {', '.join(who)}"
            + (f" ({reason})" if reason else "")
        ),
    )
    if obj.approval != RecordApproval.requested or obj.state != ON_REQUEST[spec.record_type]:
        _move_if_allowed(
            db_session, spec, obj, ON_REQUEST[spec.record_type], actor, approval=RecordApproval.requested
        )
    return created


def request(
    *,
    db_session: Session,
    spec: RecordSpec,
    obj: Any,
    request_in: ApprovalRequest,
    actor,
    reason: str | None = None,
) -> list[Approval]:
    """Ask the named users and groups to approve; earlier open requests are cancelled (a new round)."""
    users, groups = _approvers(db_session, spec, obj, request_in)
    last_round = db_session.scalar(
        select(func.max(Approval.round)).where(
            Approval.record_type == spec.record_type, Approval.record_id == obj.id
        )
    )
    for old in _open(db_session, spec.record_type, obj.id):
        old.state = ApprovalState.cancelled
    rnd = (last_round or 0) + 1
    return _ask(
        db_session,
        spec,
        obj,
        users,
        groups,
        rnd=rnd,
        policy=request_in.policy,
        actor=actor,
        reason=reason,
        joined=False,
    )


def add_approvers(
    *,
    db_session: Session,
    spec: RecordSpec,
    obj: Any,
    request_in: ApprovalRequest,
    actor,
    reason: str | None = None,
) -> list[Approval]:
    """Ask more approvers without cancelling anyone: they join the open round (its policy kept), or start a
    new round when none is open. Whoever the open round already asks is not asked twice ([] then)."""
    current = _open(db_session, spec.record_type, obj.id)
    if not current:
        return request(
            db_session=db_session, spec=spec, obj=obj, request_in=request_in, actor=actor, reason=reason
        )
    users, groups = _approvers(db_session, spec, obj, request_in)
    asked_users = {a.approver_id for a in current}
    asked_groups = {a.approver_group_id for a in current}
    users = [u for u in users if u.id not in asked_users]
    groups = [g for g in groups if g.id not in asked_groups]
    if not users and not groups:
        return []
    first = current[0]
    return _ask(
        db_session,
        spec,
        obj,
        users,
        groups,
        rnd=first.round,
        policy=first.policy,
        actor=actor,
        reason=reason,
        joined=True,
    )


def _open(db_session: Session, record_type: str, record_id: int) -> list[Approval]:
    return list(
        db_session.scalars(
            select(Approval).where(
                Approval.record_type == record_type,
                Approval.record_id == record_id,
                Approval.state == ApprovalState.requested,
            )
        )
    )


def get(*, db_session: Session, approval_id: int) -> Approval:
    """Approval by id, or NotFoundError."""
    approval = db_session.get(Approval, approval_id)
    if approval is None:
        raise NotFoundError(f"approval {approval_id} not found")
    return approval


def can_decide(db_session: Session, approval: Approval, user) -> bool:
    """True when the user is the approver or a member of the approving group."""
    if approval.approver_id is not None:
        return approval.approver_id == user.id
    if approval.approver_group_id is not None:
        return (
            db_session.execute(
                select(group_members).where(
                    group_members.c.group_id == approval.approver_group_id, group_members.c.user_id == user.id
                )
            ).first()
            is not None
        )
    return False


def decide(
    *, db_session: Session, approval: Approval, approve: bool, decision: ApprovalDecision, actor
) -> Approval:
    """Record an approve or reject decision and move the record on when the round is decided."""
    if approval.state != ApprovalState.requested:
        raise ConflictError(f"approval {approval.id} is already {approval.state}", field="state")
    if not can_decide(db_session, approval, actor):
        raise PermissionDeniedError("only the named approver (or a member of the approving group) may decide")
    spec = spec_registry.get(approval.record_type)
    obj = record_service.get(db_session=db_session, spec=spec, ref=approval.record_id)
    barred = owners(db_session, spec.record_type, obj, deciding=True)
    if approval.requested_by_id is not None and spec.record_type == "change":
        barred.setdefault(approval.requested_by_id, "asked for this approval")
    if actor.id in barred:
        raise PermissionDeniedError(
            f"separation of duties: you {barred[actor.id]}, so you cannot decide the approval of {obj.number}"
        )
    approval.state = ApprovalState.approved if approve else ApprovalState.rejected
    approval.comment = decision.comment
    approval.decided_by = actor
    approval.decided_at = utcnow()
    db_session.flush()
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="approval_decided",
        field="approval",
        old=ApprovalState.requested,
        new=f"{approval.state}" + (f": {decision.comment}" if decision.comment else ""),
    )
    outcome = _round_outcome(db_session, approval)
    if outcome is not None:
        for other in _open(db_session, approval.record_type, approval.record_id):
            other.state = ApprovalState.cancelled
        target = ON_APPROVED if outcome == RecordApproval.approved else ON_REJECTED
        _move_if_allowed(db_session, spec, obj, target[spec.record_type], actor, approval=outcome)
    return approval


def _round_outcome(db_session: Session, approval: Approval) -> RecordApproval | None:
    """approved/rejected once the round's policy is met, None while it is still open."""
    rows = list(
        db_session.scalars(
            select(Approval).where(
                Approval.record_type == approval.record_type,
                Approval.record_id == approval.record_id,
                Approval.round == approval.round,
                Approval.state != ApprovalState.cancelled,
            )
        )
    )
    states = [r.state for r in rows]
    if ApprovalState.rejected in states:
        return RecordApproval.rejected
    if approval.policy == ApprovalPolicy.any and ApprovalState.approved in states:
        return RecordApproval.approved
    if all(s == ApprovalState.approved for s in states):
        return RecordApproval.approved
    return None


def list_for_record(*, db_session: Session, record_type: str, record_id: int) -> list[Approval]:
    """All approvals of a record, every round, oldest first."""
    return list(
        db_session.scalars(
            select(Approval)
            .where(Approval.record_type == record_type, Approval.record_id == record_id)
            .order_by(Approval.id)
        )
    )


def pending_for(*, db_session: Session, user) -> list[Approval]:
    """Open approvals the user may decide (directly or through a group)."""
    groups = select(group_members.c.group_id).where(group_members.c.user_id == user.id)
    return list(
        db_session.scalars(
            select(Approval)
            .where(
                Approval.state == ApprovalState.requested,
                or_(Approval.approver_id == user.id, Approval.approver_group_id.in_(groups)),
            )
            .order_by(Approval.id)
        )
    )
