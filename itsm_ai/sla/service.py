"""Per-ticket SLA clocks, kept by a listener on the store's domain events.

Every clock is recomputed from the ticket's state history (kept here, one row per state entered) by the pure
`itsm_ai.workflow.sla_clock.compute_clock`, so a pause is a true pause, a reopen resumes from the elapsed time
the clock had, and a priority change that switches the policy recomputes from the same history (time paused
stays paused). The listener audits each start, pause, resume and stop once (the keys of audited clock events
are kept on the clock row); warnings and breaches are fired by the sweep (flows.py) at `next_check_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from itsm_ai.asset.models import Asset, CiClass, record_cis
from itsm_ai.audit import service as audit_service
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.database import utcnow
from itsm_ai.records import service as record_service
from itsm_ai.records.events import RecordEvent
from itsm_ai.records.spec import RecordSpec
from itsm_ai.sla import policies
from itsm_ai.sla.enums import LIFECYCLE_EVENTS, SLA_SOURCE, SlaAuditAction
from itsm_ai.sla.models import TicketSla, TicketSlaRead, TicketStateHistory
from itsm_ai.ticket.service import TICKET_SPECS
from itsm_ai.workflow import sla_clock
from itsm_ai.workflow.sla_clock import ClockEventKind, SlaKind, SlaStage

# The SLA engine's notion of "now": tests replace it to drive clocks without sleeping.
clock: Callable[[], datetime] = utcnow

KINDS = (SlaKind.response, SlaKind.resolution)
History = list[tuple[datetime, str]]


def current_time() -> datetime:
    """Now, as the SLA engine sees it (aware UTC)."""
    return clock()


# -- ticket facts and history -------------------------------------------------------------------------------


def ticket_facts(*, db_session: Session, spec: RecordSpec, obj: Any) -> dict[str, Any]:
    """The ticket as conditions and escalation templates see it, plus caller_organisation and service."""
    # A just-changed foreign key does not refresh an already loaded relationship: reload them (the record
    # is flushed before events are published, so nothing pending is lost).
    db_session.expire(obj, [ref.rel for ref in spec.refs.values()])
    facts = record_service.serialize(spec, obj)
    facts["record_type"] = spec.record_type
    caller = obj.caller_ref
    facts["caller_organisation"] = caller.organisation if caller else None
    service = None
    if getattr(obj, "catalog_item_id", None):
        item = db_session.get(CatalogItem, obj.catalog_item_id)
        service = item.name if item else None
    elif "configuration_items" in spec.links:
        service = db_session.scalar(
            select(Asset.name)
            .join(record_cis, record_cis.c.asset_id == Asset.id)
            .where(
                record_cis.c.record_type == spec.record_type,
                record_cis.c.record_id == obj.id,
                Asset.ci_class == CiClass.service,
            )
            .order_by(Asset.name)
            .limit(1)
        )
    facts["service"] = service
    return facts


def load_history(*, db_session: Session, record_type: str, record_id: int) -> History:
    """The (at, state) history of a ticket in recorded order."""
    rows = db_session.execute(
        select(TicketStateHistory.at, TicketStateHistory.state)
        .where(TicketStateHistory.record_type == record_type, TicketStateHistory.record_id == record_id)
        .order_by(TicketStateHistory.id)
    )
    return [(at, state) for at, state in rows]


def _append(db_session: Session, hist: History, record_type: str, record_id: int, state: str, at: datetime):
    db_session.add(TicketStateHistory(record_type=record_type, record_id=record_id, state=str(state), at=at))
    hist.append((at, str(state)))


def _rows(db_session: Session, record_type: str, record_id: int) -> list[TicketSla]:
    rows = db_session.scalars(
        select(TicketSla).where(TicketSla.record_type == record_type, TicketSla.record_id == record_id)
    ).all()
    return sorted(rows, key=lambda r: KINDS.index(SlaKind(r.kind)))


# -- clock rows ---------------------------------------------------------------------------------------------


def _event_key(event: sla_clock.ClockEvent) -> str:
    return f"{event.kind}|{event.at.astimezone(UTC).isoformat()}|{event.state or ''}"


def compute(row: TicketSla, hist: History, now: datetime) -> sla_clock.SlaClock:
    """The clock of a row at `now` on its policy snapshot."""
    return sla_clock.compute_clock(hist, policies.core_of(row.policy), now=now, kind=row.kind)


def next_check(row: TicketSla, clk: sla_clock.SlaClock) -> datetime | None:
    """When the sweep must look at this clock next: the earliest warning or breach not fired yet."""
    if clk.stage == SlaStage.cancelled:
        return None
    reached = {e.kind for e in clk.events}
    # A paused or stopped clock only projects its thresholds; only ones already reached are due.
    running = clk.stopped_at is None and clk.stage != SlaStage.paused
    due = []
    if not row.warned and clk.warning_at and (running or ClockEventKind.warning in reached):
        due.append(clk.warning_at)
    if not row.breached and clk.breach_at and (running or ClockEventKind.breach in reached):
        due.append(clk.breach_at)
    return min(due) if due else None


def audit(
    db_session: Session, row: TicketSla, action: SlaAuditAction, *, at: datetime, actor=None, **details: Any
) -> None:
    """Add one SLA audit event to the ticket's trail (`field` is the clock kind, the policy in the value)."""
    shown = {"policy": row.policy_name, **details}
    audit_service.record_event(
        db_session=db_session,
        record_type=row.record_type,
        record_id=row.record_id,
        actor=actor,
        action=str(action),
        field=row.kind,
        new={k: v for k, v in shown.items() if v is not None},
        source=SLA_SOURCE,
        at=at,
    )


def refresh(
    db_session: Session, row: TicketSla, hist: History, now: datetime, *, actor=None, quiet_before=None
) -> sla_clock.SlaClock:
    """Recompute a clock row at `now`, auditing its lifecycle events not audited yet."""
    # Events before `quiet_before` are only remembered: the past of a clock whose policy just changed.
    clk = compute(row, hist, now)
    keys = list(row.audited_events or [])
    seen = set(keys)
    for event in clk.events:
        key = _event_key(event)
        if event.kind not in LIFECYCLE_EVENTS or key in seen:
            continue
        seen.add(key)
        keys.append(key)
        if quiet_before is None or event.at >= quiet_before:
            details: dict[str, Any] = {"state": event.state}
            if event.kind in (ClockEventKind.start, ClockEventKind.resume):
                details["deadline"] = clk.deadline.isoformat()
            audit(db_session, row, SlaAuditAction(f"sla_{event.kind}"), at=event.at, actor=actor, **details)
    row.audited_events = keys
    row.stage = str(clk.stage)
    row.started_at = clk.started_at
    row.deadline = clk.deadline
    row.warning_at = clk.warning_at
    row.breach_at = clk.breach_at
    row.stopped_at = clk.stopped_at
    row.elapsed_seconds = clk.elapsed.total_seconds()
    row.paused_seconds = clk.paused.total_seconds()
    row.next_check_at = next_check(row, clk)
    row.updated_at = now
    return clk


def _new_row(spec: RecordSpec, obj: Any, kind: SlaKind, choice: policies.PolicyChoice) -> TicketSla:
    return TicketSla(
        record_type=spec.record_type,
        record_id=obj.id,
        kind=str(kind),
        policy_id=choice.policy_id,
        policy_name=choice.name,
        policy=choice.snapshot,
        warned=False,
        breached=False,
        audited_events=[],
    )


def _start(db_session: Session, spec: RecordSpec, obj: Any, choice, hist: History, now: datetime, actor):
    for kind in KINDS:
        row = _new_row(spec, obj, kind, choice)
        db_session.add(row)
        refresh(db_session, row, hist, now, actor=actor)


def _switch(db_session: Session, row: TicketSla, choice, hist: History, now: datetime, actor) -> None:
    old = row.policy_name
    row.policy_id, row.policy_name, row.policy = choice.policy_id, choice.name, choice.snapshot
    # Warnings and breaches fire once per policy: the new policy's thresholds are its own.
    row.warned = row.breached = False
    row.audited_events = []
    audit(db_session, row, SlaAuditAction.policy_changed, at=now, actor=actor, previous=old)
    refresh(db_session, row, hist, now, actor=actor, quiet_before=now)


def _stop_all(db_session: Session, rows: list[TicketSla], now: datetime, actor) -> None:
    for row in rows:
        audit(
            db_session,
            row,
            SlaAuditAction.policy_changed,
            at=now,
            actor=actor,
            policy=None,
            previous=row.policy_name,
        )
        db_session.delete(row)


# -- listener -----------------------------------------------------------------------------------------------


def start_clocks(*, db_session: Session, spec: RecordSpec, obj: Any, now: datetime, actor=None) -> None:
    """A new ticket: record its first state and start the clocks of the policy it matches."""
    opened = obj.opened_at if obj.opened_at is not None else now
    hist: History = []
    _append(db_session, hist, spec.record_type, obj.id, obj.state, min(opened, now))
    db_session.flush()
    choice = policies.pick(
        policies.choices(db_session=db_session), ticket_facts(db_session=db_session, spec=spec, obj=obj)
    )
    if choice is not None:
        _start(db_session, spec, obj, choice, hist, now, actor)
        db_session.flush()


def update_clocks(
    *, db_session: Session, spec: RecordSpec, obj: Any, changes, now: datetime, actor=None
) -> None:
    """A changed ticket: log a state change, re-select the policy if a selecting field changed, recompute."""
    state_change = next((c for c in changes if c[0] == "state"), None)
    options = policies.choices(db_session=db_session)
    reselect = bool({c[0] for c in changes} & policies.selection_fields(options))
    if state_change is None and not reselect:
        return
    hist = load_history(db_session=db_session, record_type=spec.record_type, record_id=obj.id)
    if state_change is not None:
        if not hist:
            # A ticket from before the SLA history existed: it was in the old state since it opened.
            opened = obj.opened_at if obj.opened_at is not None else now
            _append(db_session, hist, spec.record_type, obj.id, state_change[1], min(opened, now))
        _append(db_session, hist, spec.record_type, obj.id, obj.state, now)
        db_session.flush()
    rows = _rows(db_session, spec.record_type, obj.id)
    choice = None
    if reselect or not rows:
        choice = policies.pick(options, ticket_facts(db_session=db_session, spec=spec, obj=obj))
        if choice is None:
            _stop_all(db_session, rows, now, actor)
            rows = []
        elif not rows:
            _start(db_session, spec, obj, choice, hist, now, actor)
        elif choice.snapshot == rows[0].policy:
            choice = None
    for row in rows:
        if choice is not None:
            _switch(db_session, row, choice, hist, now, actor)
        else:
            refresh(db_session, row, hist, now, actor=actor)
    db_session.flush()


def remove_clocks(*, db_session: Session, record_type: str, record_id: int) -> None:
    """A deleted ticket: drop its clocks and history (its audit trail stays)."""
    for model in (TicketSla, TicketStateHistory):
        db_session.execute(
            delete(model).where(model.record_type == record_type, model.record_id == record_id)
        )


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Domain-event listener: keep ticket state history and SLA clocks in the writer's transaction."""
    spec = TICKET_SPECS.get(event.record_type)
    if spec is None:
        return
    if event.kind == "created":
        start_clocks(
            db_session=db_session, spec=spec, obj=event.record, now=current_time(), actor=event.actor
        )
    elif event.kind == "updated":
        update_clocks(
            db_session=db_session,
            spec=spec,
            obj=event.record,
            changes=event.changes,
            now=current_time(),
            actor=event.actor,
        )
    elif event.kind == "deleted":
        remove_clocks(db_session=db_session, record_type=spec.record_type, record_id=event.record.id)


# -- reading ------------------------------------------------------------------------------------------------


def _calendar_label(row: TicketSla) -> str:
    calendar = row.policy["policy"].get("calendar")
    if not calendar:
        return "24x7"
    return calendar.get("name") or calendar.get("timezone") or "business hours"


def clocks_for(
    *, db_session: Session, spec: RecordSpec, obj: Any, now: datetime | None = None
) -> list[TicketSlaRead]:
    """The ticket's clocks computed at `now` (default: the SLA engine's now)."""
    now = now or current_time()
    rows = _rows(db_session, spec.record_type, obj.id)
    if not rows:
        return []
    hist = load_history(db_session=db_session, record_type=spec.record_type, record_id=obj.id)
    out = []
    for row in rows:
        clk = compute(row, hist, now)
        out.append(
            TicketSlaRead(
                kind=SlaKind(row.kind),
                policy=row.policy_name,
                calendar=_calendar_label(row),
                stage=clk.stage,
                target_minutes=int(clk.target.total_seconds() // 60),
                started_at=clk.started_at,
                deadline=clk.deadline,
                warning_at=clk.warning_at,
                breach_at=clk.breach_at,
                stopped_at=clk.stopped_at,
                elapsed_seconds=clk.elapsed.total_seconds(),
                paused_seconds=clk.paused.total_seconds(),
                remaining_seconds=clk.remaining.total_seconds(),
                percent=round(clk.percent, 2),
                warning_fired=row.warned,
                breach_fired=row.breached,
                now=now,
            )
        )
    return out
