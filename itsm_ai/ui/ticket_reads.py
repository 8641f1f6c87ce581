"""What the pages read of tickets: the types by number prefix, one ticket with the API's read check, a
requester's own tickets, the public or full history, and the approvals with who may decide them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.models import User
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.errors import NotFoundError
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import like_pattern
from itsm_ai.records.spec import Action, RecordSpec
from itsm_ai.ticket.service import INCIDENT, SERVICE_REQUEST, TICKET_SPECS

# Ticket types the portal and the queue show, by the number prefix and by the queue's type filter.
SPECS_BY_PREFIX = {spec.prefix: spec for spec in TICKET_SPECS.values()}
QUEUE_TYPES = {"incident": INCIDENT, "service_request": SERVICE_REQUEST}
OPEN_STATES = {
    "incident": ("new", "in_progress", "on_hold"),
    "service_request": ("submitted", "approval", "fulfilment"),
}
PORTAL_SPECS = (INCIDENT, SERVICE_REQUEST)


def spec_for_number(number: str) -> RecordSpec:
    """The ticket spec a number belongs to (INC..., REQ..., PRB..., CHG...), or NotFoundError."""
    prefix = re.match(r"^[A-Za-z]+", number.strip())
    spec = SPECS_BY_PREFIX.get(prefix.group(0).upper()) if prefix else None
    if spec is None:
        raise NotFoundError(f"ticket {number} not found")
    return spec


def load_ticket(*, db_session: Session, user: User, number: str) -> tuple[RecordSpec, Any]:
    """A ticket by number with the API's read check (requesters: their own only, others' are 404)."""
    spec = spec_for_number(number)
    spec.access.check(user, Action.read, noun=spec.noun)
    obj = record_service.get(db_session=db_session, spec=spec, ref=number)
    spec.access.check(user, Action.read, obj, noun=spec.noun)
    return spec, obj


def my_tickets(
    *,
    db_session: Session,
    user: User,
    status: str = "all",
    q: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the user's own incidents and service requests, newest first, and how many match in all;
    `status` is open, closed or all, `q` matches the number or the title."""
    out: list[dict[str, Any]] = []
    total = 0
    for spec in PORTAL_SPECS:
        model = spec.model
        conds = [model.caller_id == user.id]
        open_states = OPEN_STATES[spec.record_type]
        if status == "open":
            conds.append(model.state.in_(open_states))
        elif status == "closed":
            conds.append(model.state.notin_(open_states))
        if q and q.strip():
            pattern = like_pattern(q.strip())
            conds.append(
                or_(
                    model.number.ilike(pattern, escape="\\"),
                    model.short_description.ilike(pattern, escape="\\"),
                )
            )
        total += db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
        # Each type's newest offset+limit rows are enough to cut the merged page from.
        stmt = (
            select(model)
            .where(*conds)
            .order_by(model.opened_at.desc(), model.id.desc())
            .limit(offset + limit)
        )
        for obj in db_session.scalars(stmt).unique():
            row = record_service.serialize(spec, obj)
            row["record_type"] = spec.record_type
            row["is_open"] = obj.state in open_states
            out.append(row)
    out.sort(key=lambda r: (r["opened_at"], r["number"]), reverse=True)
    return out[offset : offset + limit], total


@dataclass
class HistoryEntry:
    """One line of a ticket's history as shown on its page."""

    at: datetime
    kind: str  # comment | work_note | state | created
    actor: str | None
    text: str | None = None
    old: str | None = None
    new: str | None = None


def history(*, db_session: Session, spec: RecordSpec, obj: Any, include_internal: bool) -> list[HistoryEntry]:
    """Comments and state changes, oldest first; without work notes or internal events for requesters."""
    entries: list[HistoryEntry] = []
    comments = select(Comment).where(Comment.record_type == spec.record_type, Comment.record_id == obj.id)
    if not include_internal:
        comments = comments.where(Comment.visibility == Visibility.public)
    for c in db_session.scalars(comments.order_by(Comment.id)):
        kind = "work_note" if c.visibility == Visibility.internal else "comment"
        author = c.author_ref.username if c.author_ref else None
        entries.append(HistoryEntry(c.created_at, kind, author, text=c.body))
    events = select(AuditEvent).where(
        AuditEvent.record_type == spec.record_type,
        AuditEvent.record_id == obj.id,
        or_(AuditEvent.action == "create", and_(AuditEvent.action == "update", AuditEvent.field == "state")),
    )
    if not include_internal:
        events = events.where(AuditEvent.internal.is_(False))
    for e in db_session.scalars(events.order_by(AuditEvent.id)):
        if e.action == "create":
            entries.append(HistoryEntry(e.at, "created", e.actor_name))
        else:
            entries.append(HistoryEntry(e.at, "state", e.actor_name, old=e.old_value, new=e.new_value))
    entries.sort(key=lambda h: h.at)
    return entries


@dataclass
class ApprovalRow:
    """One approval of a ticket and whether the viewer may decide it."""

    id: int
    round: int
    approver: str | None
    group: str | None
    state: str
    comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    can_decide: bool
    # Asked by nobody: on creation, from the approvers the catalog item names.
    automatic: bool = False
    # Why it was asked when nobody asked by hand ("catalog item", "caller's manager", "rule 3: ...").
    reason: str | None = None


def approvals(*, db_session: Session, spec: RecordSpec, obj: Any, user: User) -> list[ApprovalRow]:
    """The ticket's approvals, every round, and which of them the viewer may approve or reject."""
    from itsm_ai.approval import service as approval_service

    out = []
    # Separation of duties: an approver who may not decide this record (its caller) gets no buttons.
    barred = approval_service.owners(db_session, spec.record_type, obj, deciding=True)
    for a in approval_service.list_for_record(
        db_session=db_session, record_type=spec.record_type, record_id=obj.id
    ):
        read = approval_service.to_read(a)
        out.append(
            ApprovalRow(
                id=a.id,
                round=read.round,
                approver=read.approver,
                group=read.approver_group,
                state=str(read.state),
                comment=read.comment,
                decided_by=read.decided_by,
                decided_at=read.decided_at,
                can_decide=str(read.state) == "requested"
                and user.id not in barred
                and approval_service.can_decide(db_session, a, user),
                automatic=a.requested_by_id is None,
                reason=a.reason,
            )
        )
    return out
