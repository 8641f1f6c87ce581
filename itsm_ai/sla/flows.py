"""The SLA sweep: fire each clock's warning and breach exactly once, audited, with the policy's escalations.

Run by `itsm-ai worker` (and by the server's in-process worker on SQLite). Only clocks whose `next_check_at`
has passed are loaded, each in its own transaction (on PostgreSQL locked with SKIP LOCKED, so two workers
never fire the same one). Per fired threshold: set the clock's flag, audit `sla_warning` / `sla_breach`,
publish a domain event of that kind (automation rules can trigger on it), then apply the escalation
actions through the store with source "sla". A failing action is audited (`sla_escalation_failed`) and
does not undo the flag: an escalation is attempted once, never retried in a loop.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.base.roles import Role
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import CommentCreate, Visibility
from itsm_ai.database import get_session, is_postgres
from itsm_ai.errors import AppError
from itsm_ai.records import service as record_service
from itsm_ai.records.events import RecordEvent, publish
from itsm_ai.sla import service
from itsm_ai.sla.enums import SLA_SOURCE, SlaAuditAction, SlaEventKind
from itsm_ai.sla.models import TicketSla
from itsm_ai.ticket.service import TICKET_SPECS
from itsm_ai.workflow.actions import parse_action, plan_actions
from itsm_ai.workflow.effects import CommentToAdd, FieldChange
from itsm_ai.workflow.sla_clock import ClockEventKind

log = logging.getLogger(__name__)

# Who writes escalation comments (the comment service refuses work notes without an author's role).
SLA_ACTOR = SimpleNamespace(id=None, username="sla", role=Role.agent)
BATCH = 500


def sweep(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Fire due warnings and breaches; returns counts (due, warnings, breaches, actions, failed)."""
    now = now or service.current_time()
    with get_session() as db_session:
        due = db_session.scalars(
            select(TicketSla.id)
            .where(TicketSla.next_check_at <= now)
            .order_by(TicketSla.next_check_at, TicketSla.id)
            .limit(limit)
        ).all()
    counts = {"due": len(due), "warnings": 0, "breaches": 0, "actions": 0, "failed": 0}
    for sla_id in due:
        try:
            with get_session() as db_session:
                fired = check_clock(db_session=db_session, sla_id=sla_id, now=now)
        except Exception:  # noqa: BLE001 - one bad ticket must not stop the sweep of the others
            log.exception("SLA sweep failed on ticket_slas.id=%s", sla_id)
            counts["failed"] += 1
            continue
        for key in ("warnings", "breaches", "actions", "failed"):
            counts[key] += fired[key]
    return counts


def check_clock(*, db_session: Session, sla_id: int, now: datetime) -> dict[str, int]:
    """Recompute one due clock and fire what it reached; returns the counts of what fired."""
    fired = {"warnings": 0, "breaches": 0, "actions": 0, "failed": 0}
    key = db_session.execute(
        select(TicketSla.record_type, TicketSla.record_id).where(TicketSla.id == sla_id)
    ).first()
    if key is None:
        return fired
    spec = TICKET_SPECS[key.record_type]
    stmt = select(TicketSla).where(TicketSla.id == sla_id, TicketSla.next_check_at <= now)
    if is_postgres(db_session):
        # Lock the ticket before its clock, in the order a ticket write takes them (row, then the listener's
        # clock), so a sweep and a concurrent update cannot deadlock; SKIP LOCKED leaves a clock that another
        # worker holds to that worker.
        db_session.execute(select(spec.model.id).where(spec.model.id == key.record_id).with_for_update())
        stmt = stmt.with_for_update(skip_locked=True)
    row = db_session.scalar(stmt)
    if row is None:
        return fired
    obj = db_session.get(spec.model, row.record_id)
    if obj is None:
        db_session.delete(row)
        return fired
    hist = service.load_history(db_session=db_session, record_type=row.record_type, record_id=row.record_id)
    clk = service.refresh(db_session, row, hist, now)
    reached = {e.kind: e for e in clk.events}
    thresholds = []
    if ClockEventKind.warning in reached and not row.warned:
        row.warned = True
        thresholds.append(("warning", reached[ClockEventKind.warning].at))
    if ClockEventKind.breach in reached and not row.breached:
        row.breached = True
        thresholds.append(("breach", reached[ClockEventKind.breach].at))
    row.next_check_at = service.next_check(row, clk)
    db_session.flush()
    snapshot, kind = row.policy, row.kind
    for stage, at in thresholds:
        fired["warnings" if stage == "warning" else "breaches"] += 1
        service.audit(
            db_session,
            row,
            SlaAuditAction(f"sla_{stage}"),
            at=at,
            deadline=clk.deadline.isoformat(),
            percent=round(clk.percent, 1),
        )
        event = RecordEvent(
            str(SlaEventKind(f"sla_{stage}")),
            row.record_type,
            obj,
            source=SLA_SOURCE,
            changes=[(f"sla_{kind}", None, stage)],
        )
        publish(db_session, event)
    for stage, _ in thresholds:
        context = {
            "kind": kind,
            "stage": stage,
            "policy": row.policy_name,
            "deadline": clk.deadline.isoformat(),
        }
        applied, failed = escalate(
            db_session=db_session,
            spec=spec,
            obj=obj,
            row=row,
            actions=snapshot.get(f"{stage}_actions") or [],
            context=context,
        )
        fired["actions"] += applied
        fired["failed"] += failed
    return fired


def escalate(
    *, db_session: Session, spec, obj: Any, row: TicketSla, actions: list[dict], context: dict[str, Any]
) -> tuple[int, int]:
    """Apply escalation actions to the ticket (field changes in one update, then comments)."""
    if not actions:
        return 0, 0
    facts = service.ticket_facts(db_session=db_session, spec=spec, obj=obj)
    facts["sla"] = context
    effects = plan_actions([parse_action(a) for a in actions], facts)
    data = {e.field: e.new for e in effects if isinstance(e, FieldChange)}
    comments = [e for e in effects if isinstance(e, CommentToAdd)]
    applied = failed = 0
    if data:
        try:
            with db_session.begin_nested():
                checked = dict(data)
                priority = checked.pop("priority", None)
                values = spec.update_schema.model_validate({"version": obj.version, **checked})
                update = values.model_dump(exclude_unset=True)
                if priority is not None:
                    update["priority"] = priority
                record_service.update(
                    db_session=db_session, spec=spec, obj=obj, data=update, actor=None, source=SLA_SOURCE
                )
            applied += 1
        except (AppError, ValidationError, ValueError) as exc:
            failed += 1
            _failed(db_session, row, context, f"set {sorted(data)}: {_message(exc)}")
    for effect in comments:
        try:
            with db_session.begin_nested():
                comment_service.add(
                    db_session=db_session,
                    spec=spec,
                    obj=obj,
                    comment_in=CommentCreate(
                        body=effect.body or "SLA", visibility=Visibility(effect.visibility)
                    ),
                    actor=SLA_ACTOR,
                )
            applied += 1
        except (AppError, ValidationError, ValueError) as exc:
            failed += 1
            _failed(db_session, row, context, f"comment: {_message(exc)}")
    return applied, failed


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _failed(db_session: Session, row: TicketSla, context: dict[str, Any], message: str) -> None:
    log.warning("SLA escalation on %s %s failed: %s", row.record_type, row.record_id, message)
    service.audit(
        db_session,
        row,
        SlaAuditAction.escalation_failed,
        at=service.current_time(),
        stage=context["stage"],
        error=message,
    )
