"""Dry runs: what a rule would have done to the newest N tickets, planned and shown, never applied."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.audit.models import AuditEvent
from itsm_ai.automation.engine import ticket_view
from itsm_ai.automation.enums import Trigger
from itsm_ai.automation.models import DryRunResult, DryRunTicket, PlannedEffect
from itsm_ai.automation.schedule import parse_schedule
from itsm_ai.database import utcnow
from itsm_ai.ticket.service import TICKET_SPECS
from itsm_ai.webhooks.service import jsonable
from itsm_ai.workflow.actions import parse_action, plan_actions
from itsm_ai.workflow.conditions import evaluate


def _coerce(text: str | None, current: Any) -> Any:
    """An audited old value (text) back in the type of the field's current value."""
    if text is None or current is None or isinstance(current, str):
        return text
    for kind in (bool, int, float):
        if isinstance(current, kind):
            try:
                return kind(text) if kind is not bool else text.lower() == "true"
            except ValueError:
                return text
    return text


def _last_changes(db_session: Session, record_type: str, ids: list[int]) -> dict[int, list[AuditEvent]]:
    """The audit rows of each ticket's latest update (one write audits its fields with one timestamp)."""
    rows = db_session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.record_type == record_type,
            AuditEvent.record_id.in_(ids),
            AuditEvent.action == "update",
        )
        .order_by(AuditEvent.record_id, AuditEvent.at, AuditEvent.id)
    )
    latest: dict[int, list[AuditEvent]] = {}
    for row in rows:
        batch = latest.get(row.record_id)
        if batch is None or batch[0].at != row.at:
            latest[row.record_id] = [row]
        else:
            batch.append(row)
    return latest


def _effect(effect) -> PlannedEffect:
    return PlannedEffect(kind=effect.kind, description=effect.describe(), detail=jsonable(asdict(effect)))


def dry_run(
    *, db_session: Session, rule: dict[str, Any], last: int, now: datetime | None = None
) -> DryRunResult:
    """Evaluate a validated rule body on the newest `last` tickets of its type and plan its effects.

    Update triggers are tried against each ticket's latest recorded update (from the audit trail), created and
    SLA triggers against the ticket as it is, scheduled triggers as if the scheduler ran `now`. Nothing is
    written: not the tickets, not the audit trail, not the outbox.
    """
    now = now or utcnow()
    spec = TICKET_SPECS[rule["record_type"]]
    trigger = Trigger(rule["trigger"])
    actions = [parse_action(a, path=f"actions[{i}]") for i, a in enumerate(rule["actions"])]
    schedule = parse_schedule(rule["schedule"]) if trigger == Trigger.scheduled else None
    objs = list(db_session.scalars(select(spec.model).order_by(spec.model.id.desc()).limit(last)))
    changes = (
        _last_changes(db_session, spec.record_type, [o.id for o in objs])
        if trigger in (Trigger.updated, Trigger.state_changed)
        else {}
    )
    tickets = []
    for obj in objs:
        ticket = ticket_view(spec, obj)
        previous = None
        eligible = True
        if trigger in (Trigger.updated, Trigger.state_changed):
            batch = changes.get(obj.id, [])
            previous = dict(ticket)
            for row in batch:
                previous[row.field] = _coerce(row.old_value, ticket.get(row.field))
            eligible = bool(batch) and (trigger == Trigger.updated or any(r.field == "state" for r in batch))
        elif schedule is not None and schedule.after_minutes is not None:
            anchor = getattr(obj, schedule.since)
            eligible = anchor is not None and anchor <= now - timedelta(minutes=schedule.after_minutes)
        matched = eligible and evaluate(rule.get("conditions"), ticket, previous)
        effects = [_effect(e) for e in plan_actions(actions, ticket)] if matched else []
        tickets.append(DryRunTicket(id=obj.id, number=obj.number, matched=matched, effects=effects))
    return DryRunResult(
        rule=rule["name"],
        record_type=spec.record_type,
        trigger=trigger,
        evaluated=len(tickets),
        matched=sum(t.matched for t in tickets),
        tickets=tickets,
    )
