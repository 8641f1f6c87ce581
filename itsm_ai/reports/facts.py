"""Report facts of one ticket, derived from its field values, state history, SLA clocks and suggestions.

Pure: values in, the fact rows out (see `reports.models` for what each column means). Business durations are
measured on the calendar of the ticket's own SLA policy with the SLA engine's calendar maths; the first
response is when the response clock stopped, or, without a clock, the first time the state history leaves the
intake states (the SLA engine's default response states).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsm_ai.reports.enums import ENDED_STATES, RESOLVED_STATES
from itsm_ai.reports.periods import epoch
from itsm_ai.sla.enums import DEFAULT_CANCEL_STATES, DEFAULT_RESPONSE_STATES
from itsm_ai.workflow.business_calendar import BusinessCalendar
from itsm_ai.workflow.sla_clock import SlaKind, SlaStage

History = Sequence[tuple[datetime, str]]


@dataclass(frozen=True)
class ClockFacts:
    """What the facts need of one stored SLA clock."""

    stage: str
    deadline: datetime | None
    stopped_at: datetime | None
    calendar: BusinessCalendar
    response_states: frozenset[str] = frozenset(DEFAULT_RESPONSE_STATES)
    cancel_states: frozenset[str] = frozenset(DEFAULT_CANCEL_STATES)


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else epoch(value)


def first_response(history: History, clock: ClockFacts | None) -> datetime | None:
    """When the ticket first left its intake states (None if it has not, or was cancelled straight away)."""
    if clock is not None and clock.stage in (SlaStage.met, SlaStage.breached) and clock.stopped_at:
        return clock.stopped_at
    intake = clock.response_states if clock else frozenset(DEFAULT_RESPONSE_STATES)
    cancel = clock.cancel_states if clock else frozenset(DEFAULT_CANCEL_STATES)
    for at, state in history:
        if state not in intake:
            return None if state in cancel else at
    return None


def ended(ticket: Mapping[str, Any], history: History) -> datetime | None:
    """When the ticket left the backlog (resolved, closed, cancelled or rejected; never before it opened)."""
    state, opened = ticket["state"], ticket["opened_at"]
    if state not in ENDED_STATES:
        return None
    if state in RESOLVED_STATES and (ticket.get("resolved_at") or ticket.get("closed_at")):
        at = ticket.get("resolved_at") or ticket.get("closed_at")
    else:
        entered = [at for at, s in history if s == state]
        at = entered[-1] if entered else ticket.get("updated_at") or opened
    # A source system's end before the opening (bad data) would make the ticket leave the backlog first.
    return max(at, opened)


def _business_seconds(clock: ClockFacts | None, start: datetime, end: datetime | None) -> int | None:
    # Whole seconds, like every other time in the facts: integers aggregate and transfer faster than floats.
    if clock is None or end is None:
        return None
    if end <= start:
        return 0
    return round(clock.calendar.business_time_between(start, end).total_seconds())


def ticket_facts(
    *,
    record_type: str,
    record_id: int,
    ticket: Mapping[str, Any],
    history: History,
    clocks: Mapping[str, ClockFacts],
) -> dict[str, Any]:
    """The report_tickets row of one ticket."""
    opened: datetime = ticket["opened_at"]
    state = ticket["state"]
    resolved = ticket.get("resolved_at") if state in RESOLVED_STATES else None
    closed = ticket.get("closed_at") if state == "closed" else None
    response_clock = clocks.get(SlaKind.response)
    resolution_clock = clocks.get(SlaKind.resolution)
    responded = first_response(history, response_clock)
    made = (ticket.get("extra") or {}).get("made_sla")
    return {
        "record_type": record_type,
        "record_id": record_id,
        "opened_at": epoch(opened),
        "state": state,
        "priority": ticket.get("priority") or 4,
        "category": ticket.get("category"),
        "assignment_group_id": ticket.get("assignment_group_id"),
        "assigned_to_id": ticket.get("assigned_to_id"),
        "resolved_at": _epoch(resolved),
        "closed_at": _epoch(closed),
        "ended_at": _epoch(ended(ticket, history)),
        "first_response_at": _epoch(responded),
        "resolve_business_seconds": _business_seconds(resolution_clock, opened, resolved),
        "response_business_seconds": _business_seconds(response_clock, opened, responded),
        "reassignment_count": ticket.get("reassignment_count"),
        "reopen_count": ticket.get("reopen_count"),
        "sla_stage": resolution_clock.stage if resolution_clock else None,
        "sla_deadline": _epoch(resolution_clock.deadline) if resolution_clock else None,
        "response_stage": response_clock.stage if response_clock else None,
        "response_deadline": _epoch(response_clock.deadline) if response_clock else None,
        "source_made_sla": made if isinstance(made, bool) else None,
    }


SUGGESTION_DIMENSIONS = ("state", "priority", "category", "assignment_group_id", "assigned_to_id")


def suggestion_facts(fact: Mapping[str, Any], suggestions: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The report_suggestions rows of one ticket: one per triage field it has a suggestion entry for."""
    fields = (suggestions or {}).get("fields") or {}
    rows = []
    for name, entry in fields.items():
        if not isinstance(entry, dict) or not entry.get("status"):
            continue
        feedback = entry.get("feedback") if isinstance(entry.get("feedback"), dict) else {}
        rows.append(
            {
                "record_type": fact["record_type"],
                "record_id": fact["record_id"],
                "opened_at": fact["opened_at"],
                "field": str(name)[:80],
                "status": str(entry["status"])[:20],
                "model": str(entry.get("model") or "")[:80],
                "model_version": str(entry.get("version") or "")[:20],
                "feedback": (str(feedback["action"])[:20] if feedback.get("action") else None),
                **{key: fact[key] for key in SUGGESTION_DIMENSIONS},
            }
        )
    return rows
