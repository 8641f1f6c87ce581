"""Applying rules: the domain-event listener, the effects applier, and the scheduler job for time-based rules.

Loop prevention, three layers:
- an event caused by a rule (`source == "rule:<id>"`) never re-triggers that same rule;
- within one user write (a depth-0 event and everything its listeners cause), a rule applies at most once
  per record, so two rules that undo each other stop after one round each;
- listener-caused writes deeper than MAX_DEPTH are not evaluated at all (logged), whatever the rules do.

A rule runs in a savepoint: if it fails (a group deleted since the rule was saved, a lifecycle refusal), its
partial work is rolled back, "rule_failed" is audited, and the user's own change still goes through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from itsm_ai.audit import service as audit_service
from itsm_ai.automation.enums import EVENT_TRIGGERS, Trigger
from itsm_ai.automation.models import Rule, RuleFiring
from itsm_ai.automation.schedule import (
    Schedule,
    ScheduleError,
    due_anchors,
    every_window,
    parse_schedule,
    window_key,
)
from itsm_ai.automation.service import problem_fields
from itsm_ai.base.roles import Role
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import CommentCreate
from itsm_ai.database import get_session, utcnow
from itsm_ai.errors import AppError
from itsm_ai.records import service as record_service
from itsm_ai.records.events import RecordEvent, carry_out
from itsm_ai.ticket.models import ProblemCreate
from itsm_ai.ticket.service import PROBLEM, TICKET_SPECS
from itsm_ai.webhooks import service as webhook_service
from itsm_ai.workflow.actions import parse_action, plan_actions
from itsm_ai.workflow.conditions import evaluate
from itsm_ai.workflow.effects import (
    ApprovalToAsk,
    CommentToAdd,
    Effect,
    FieldChange,
    RecordToCreate,
    WebhookToSend,
)

log = logging.getLogger(__name__)
MAX_DEPTH = 4
APPLIED_KEY = "automation.applied"


@dataclass(frozen=True)
class RuleActor:
    """Who a rule's comments are written as: no user row, shown and audited as `rule:<id>`."""

    rule_id: int
    id: None = None
    role: Role = Role.agent
    active: bool = True

    @property
    def username(self) -> str:
        """The name the audit trail shows."""
        return f"rule:{self.rule_id}"


def source_of(rule: Rule) -> str:
    """The audit/event source of a rule's writes."""
    return f"rule:{rule.id}"


def ticket_view(spec, obj: Any) -> dict[str, Any]:
    """What conditions and actions see: the API dict, plus ML `suggestions` and `problem_id` when present."""
    ticket = record_service.serialize(spec, obj)
    suggestions = getattr(obj, "suggestions", None)
    if "suggestions" not in ticket and suggestions is not None:
        ticket["suggestions"] = suggestions
    if hasattr(obj, "problem_id"):
        ticket["problem_id"] = obj.problem_id
    # Predictions are mirrored into suggestions; rules name them plainly (breach_risk > 0.8).
    predictions = (suggestions or {}).get("predictions") or {}
    for name in ("breach_risk", "ttr_hours", "volume_alert"):
        ticket.setdefault(name, predictions.get(name))
    return ticket


def previous_view(ticket: dict[str, Any], changes: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    """The ticket as it was before an update (the changed fields at their old values)."""
    before = dict(ticket)
    for name, old, _new in changes:
        before[name] = old
    return before


def triggers_for(event: RecordEvent) -> set[Trigger]:
    """The rule triggers a domain event fires."""
    trigger = EVENT_TRIGGERS.get(event.kind)
    if trigger is None:
        return set()
    found = {trigger}
    if event.kind == "updated" and "state" in event.changed_fields:
        found.add(Trigger.state_changed)
    return found


def plan(rule: Rule, ticket: dict[str, Any]) -> list[Effect]:
    """The effects of a rule's actions on the ticket, applying nothing."""
    return plan_actions([parse_action(a, path=f"actions[{i}]") for i, a in enumerate(rule.actions)], ticket)


def apply_effects(db_session: Session, spec, obj: Any, rule: Rule, effects: list[Effect]) -> None:
    """Carry out planned effects: one field update (with any new problem's link), comments, webhooks."""
    source = source_of(rule)
    data: dict[str, Any] = {}
    for effect in effects:
        if isinstance(effect, FieldChange):
            data[effect.field] = effect.new
        elif isinstance(effect, RecordToCreate):
            fields = problem_fields(dict(effect.fields))
            fields["short_description"] = (fields.get("short_description") or "Problem")[:255]
            problem_in = ProblemCreate.model_validate(fields)
            problem = record_service.create(
                db_session=db_session, spec=PROBLEM, data=problem_in.model_dump(), actor=None, source=source
            )
            data["problem"] = problem.number
    if data:
        data["version"] = obj.version
        record_service.update(db_session=db_session, spec=spec, obj=obj, data=data, actor=None, source=source)
        webhook_service.refresh_refs(db_session, spec, obj, set(data))
    for effect in effects:
        if isinstance(effect, CommentToAdd):
            comment_in = CommentCreate(body=effect.body, visibility=str(effect.visibility))
            comment_service.add(
                db_session=db_session, spec=spec, obj=obj, comment_in=comment_in, actor=RuleActor(rule.id)
            )
        elif isinstance(effect, WebhookToSend):
            webhook_service.enqueue_direct(
                db_session=db_session,
                url=effect.url,
                method=effect.method,
                headers=dict(effect.headers),
                payload=dict(effect.payload),
                event_type_=str(effect.payload.get("event", "ticket.rule_matched")),
                record_type=spec.record_type,
                record_id=obj.id,
                rule_id=rule.id,
            )
        elif isinstance(effect, ApprovalToAsk):
            # The approvals feature asks (records.events.carry_out): rules and approvals meet only there.
            carry_out(db_session, spec.record_type, obj, effect, reason=f"rule {rule.id}: {rule.name}"[:160])


def run_rule(db_session: Session, spec, obj: Any, rule: Rule, effects: list[Effect], trigger: str) -> bool:
    """Apply one matched rule in a savepoint and audit it; False (and `rule_failed` audited) on failure."""
    mark = webhook_service.pending_mark(db_session)
    try:
        with db_session.begin_nested():
            apply_effects(db_session, spec, obj, rule, effects)
    except (AppError, SQLAlchemyError) as exc:
        webhook_service.pending_restore(db_session, mark)
        db_session.refresh(obj)
        log.warning("rule %s (%s) failed on %s %s: %s", rule.id, rule.name, spec.record_type, obj.id, exc)
        _audit(db_session, spec, obj, rule, "rule_failed", f"{trigger}: {exc}")
        return False
    summary = "; ".join(e.describe() for e in effects)
    _audit(db_session, spec, obj, rule, "rule_applied", f"{trigger}: {summary}")
    return True


def _audit(db_session: Session, spec, obj: Any, rule: Rule, action: str, detail: str) -> None:
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=None,
        action=action,
        field="rule",
        old=f"{rule.id}: {rule.name}",
        new=detail[:4000],
        source=source_of(rule),
    )


def rules_for(db_session: Session, record_type: str, triggers: set[Trigger]) -> list[Rule]:
    """Enabled rules of a record type for these triggers, in run order."""
    stmt = (
        select(Rule)
        .where(
            Rule.enabled.is_(True),
            Rule.record_type == record_type,
            Rule.trigger.in_([str(t) for t in triggers]),
        )
        .order_by(Rule.order, Rule.id)
    )
    return list(db_session.scalars(stmt))


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Listener: evaluate the enabled rules for this event in order and apply those that match."""
    spec = TICKET_SPECS.get(event.record_type)
    triggers = triggers_for(event) if spec is not None else set()
    if not triggers:
        return
    if event.depth == 0:
        db_session.info[APPLIED_KEY] = set()
    if event.depth >= MAX_DEPTH:
        log.warning(
            "rules not evaluated for %s %s: depth %s", event.record_type, event.record.id, event.depth
        )
        return
    rules = rules_for(db_session, event.record_type, triggers)
    if not rules:
        return
    applied: set[tuple[int, str, int]] = db_session.info.setdefault(APPLIED_KEY, set())
    obj = event.record
    webhook_service.refresh_refs(db_session, spec, obj)
    ticket = ticket_view(spec, obj)
    previous = previous_view(ticket, event.changes) if event.kind == "updated" else None
    for rule in rules:
        key = (rule.id, spec.record_type, obj.id)
        if event.source == source_of(rule) or key in applied:
            continue
        if not evaluate(rule.conditions, ticket, previous):
            continue
        applied.add(key)
        effects = plan(rule, ticket)
        if effects and run_rule(db_session, spec, obj, rule, effects, rule.trigger):
            ticket = ticket_view(spec, obj)
        if rule.stop_processing:
            break


# -- time-based rules ----------------------------------------------------------------------------------------


def _scan(rule_id: int, schedule: Schedule, now: datetime, after_id: int, batch_size: int):
    """One chunk of candidate tickets: (matched (ticket id, window key) pairs, last id seen, rows seen)."""
    with get_session() as db_session:
        rule = db_session.get(Rule, rule_id)
        spec = TICKET_SPECS[rule.record_type]
        model = spec.model
        stmt = select(model).where(model.id > after_id).order_by(model.id).limit(batch_size)
        if schedule.after_minutes is not None:
            low, high = due_anchors(schedule, rule.scheduled_through or now, now)
            anchor = getattr(model, schedule.since)
            stmt = stmt.where(anchor > low, anchor <= high)
        objs = list(db_session.scalars(stmt))
        matched = []
        for obj in objs:
            if evaluate(rule.conditions, ticket_view(spec, obj)):
                matched.append((obj.id, window_key(schedule, now, getattr(obj, schedule.since))))
        return matched, (objs[-1].id if objs else after_id), len(objs)


def _fire(rule_id: int, ticket_id: int, key: str, now: datetime) -> str:
    """Fire a scheduled rule on one ticket in its own transaction, once per window (the unique firing)."""
    try:
        with get_session() as db_session:
            rule = db_session.get(Rule, rule_id)
            spec = TICKET_SPECS[rule.record_type]
            obj = db_session.get(spec.model, ticket_id)
            if obj is None or not rule.enabled:
                return "skipped"
            db_session.add(
                RuleFiring(
                    rule_id=rule.id, record_type=spec.record_type, record_id=obj.id, window=key, fired_at=now
                )
            )
            db_session.flush()
            ticket = ticket_view(spec, obj)
            if not evaluate(rule.conditions, ticket):
                raise _Unmatched
            effects = plan(rule, ticket)
            if effects and not run_rule(db_session, spec, obj, rule, effects, str(Trigger.scheduled)):
                return "failed"
            return "fired"
    except IntegrityError:
        return "skipped"  # another worker fired it in this window already
    except _Unmatched:
        return "skipped"


class _Unmatched(Exception):
    """The ticket changed between the scan and the firing and no longer matches (rolls the firing back)."""


def run_schedule_of(rule_id: int, *, now: datetime, batch_size: int = 500) -> dict[str, int]:
    """Run one scheduled rule for the current window (or the anchors that became due); returns counts."""
    counts = {"fired": 0, "failed": 0, "skipped": 0, "scanned": 0}
    with get_session() as db_session:
        rule = db_session.get(Rule, rule_id)
        schedule = parse_schedule(rule.schedule)
        window = every_window(schedule, now) if schedule.every_minutes is not None else None
        if window is not None and rule.last_window == window:
            return counts
    after_id = 0
    while True:
        matched, after_id, seen = _scan(rule_id, schedule, now, after_id, batch_size)
        counts["scanned"] += seen
        for ticket_id, key in matched:
            counts[_fire(rule_id, ticket_id, key, now)] += 1
        if seen < batch_size:
            break
    values = {"last_window": window} if window is not None else {"scheduled_through": now}
    with get_session() as db_session:
        db_session.execute(
            sa_update(Rule)
            .where(Rule.id == rule_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return counts


def run_scheduled(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Worker job: run every enabled time-based rule once; each fires at most once per ticket per window."""
    now = now or utcnow()
    with get_session() as db_session:
        rule_ids = list(
            db_session.scalars(
                select(Rule.id)
                .where(Rule.enabled.is_(True), Rule.trigger == str(Trigger.scheduled))
                .order_by(Rule.order, Rule.id)
            )
        )
    total = {"rules": len(rule_ids), "fired": 0, "failed": 0, "skipped": 0, "scanned": 0}
    for rule_id in rule_ids:
        try:
            counts = run_schedule_of(rule_id, now=now, batch_size=batch_size)
        except (ScheduleError, AppError, SQLAlchemyError):
            # One broken rule must not stop the others; it is retried on the next run.
            log.exception("scheduled rule %s failed", rule_id)
            total["failed"] += 1
            continue
        for name, value in counts.items():
            total[name] += value
    return total
