"""The SLA sweep at chosen instants: warnings and breaches fire once, audited, escalated, published;
`itsm-ai worker --once` runs it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from itsm_ai.records import events
from itsm_ai.sla.flows import sweep
from tests.sla.conftest import T0, at_utc

ON_HOLD = {"state": "on_hold", "on_hold_reason": "awaiting_vendor"}
RESOLVE = {"state": "resolved", "resolution_code": "solved", "resolution_notes": "Fixed."}


@pytest.fixture
def published() -> Iterator[list[tuple[str, str, int]]]:
    """The SLA domain events published while the test runs, as (kind, record_type, record id)."""
    seen: list[tuple[str, str, int]] = []

    def listener(_session, event):
        if event.kind.startswith("sla_"):
            seen.append((event.kind, event.record_type, event.record.id))

    events.subscribe(listener)
    yield seen
    events.unsubscribe(listener)


def fired(result: dict) -> tuple[int, int]:
    return result["warnings"], result["breaches"]


def sweep_at(clock, minutes: int) -> dict:
    """Move the SLA clock to T0 + minutes and sweep (with the engine's now, as the worker does)."""
    clock.now = T0 + timedelta(minutes=minutes)
    return sweep()


def test_warning_and_breach_fire_once_each_with_escalations(make, clock, published):
    make.group("Major Incident")
    make.policy(
        "Fast",
        response_target=30,
        resolution_target=60,
        warning_percent=50,
        warning_actions=[{"type": "add_comment", "body": "SLA {sla.kind} at risk on {number}"}],
        breach_actions=[
            {"type": "assign_group", "group": "Major Incident"},
            {"type": "set_field", "field": "priority", "value": 1},
        ],
    )
    inc = make.incident()
    assert fired(sweep_at(clock, 10)) == (0, 0)
    assert fired(sweep_at(clock, 20)) == (1, 0)  # response warning at 15 min
    assert fired(sweep_at(clock, 25)) == (0, 0)
    assert fired(sweep_at(clock, 40)) == (1, 1)  # resolution warning, response breach
    result = sweep_at(clock, 70)
    assert fired(result) == (0, 1) and result["failed"] == 0
    assert fired(sweep_at(clock, 500)) == (0, 0)

    trail = make.get(f"incidents/{inc['id']}/audit")
    sla_events = [(e["action"], e["field"]) for e in trail if e["action"] in ("sla_warning", "sla_breach")]
    assert sorted(sla_events) == [
        ("sla_breach", "resolution"),
        ("sla_breach", "response"),
        ("sla_warning", "resolution"),
        ("sla_warning", "response"),
    ]
    breach = next(e for e in trail if e["action"] == "sla_breach" and e["field"] == "resolution")
    assert at_utc(breach["at"]) == T0 + timedelta(minutes=60)
    ticket = make.get(f"incidents/{inc['id']}")
    assert ticket["assignment_group"] == "Major Incident" and ticket["priority"] == 1
    assert any(e["field"] == "assignment_group" and e["source"] == "sla" for e in trail)
    notes = [c["body"] for c in make.get(f"incidents/{inc['id']}/comments")]
    assert sorted(notes) == [
        f"SLA resolution at risk on {inc['number']}",
        f"SLA response at risk on {inc['number']}",
    ]
    assert sorted(published) == sorted(
        [(k, "incident", inc["id"]) for k in ("sla_warning", "sla_warning", "sla_breach", "sla_breach")]
    )
    clocks = make.clocks("incidents", inc["id"])
    assert clocks["resolution"]["stage"] == "breached" and clocks["resolution"]["breach_fired"]


def test_a_breach_missed_before_resolution_fires_once_later(make, clock, published):
    make.policy("Fast", response_target=30, resolution_target=60)
    inc = make.incident(state="in_progress")
    clock.advance(minutes=90)
    make.patch(f"incidents/{inc['id']}", RESOLVE)
    # No sweep ran in between: the next one still reports the breach (and the warning) once.
    assert fired(sweep(now=clock.advance(minutes=5))) == (1, 1)
    assert fired(sweep(now=clock.advance(minutes=5))) == (0, 0)
    clocks = make.clocks("incidents", inc["id"])
    assert clocks["resolution"]["stage"] == "breached" and clocks["resolution"]["stopped_at"]
    assert clocks["response"]["stage"] == "met"


def test_a_paused_clock_does_not_fire(make, clock):
    make.policy("Fast", response_target=30, resolution_target=60)
    inc = make.incident(state="in_progress")
    clock.advance(minutes=10)
    make.patch(f"incidents/{inc['id']}", ON_HOLD)
    assert fired(sweep(now=clock.advance(days=3))) == (0, 0)
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    assert fired(sweep(now=clock.advance(minutes=40))) == (1, 0)  # 50 min counted: warning at 45
    assert fired(sweep(now=clock.advance(minutes=10))) == (0, 1)


def test_a_failing_escalation_is_audited_and_not_retried(make, clock):
    breach_actions = [{"type": "assign_user", "user": "ghost"}, {"type": "add_comment", "body": "breached"}]
    make.policy("Fast", response_target=30, resolution_target=60, breach_actions=breach_actions)
    inc = make.incident(state="in_progress")
    first = sweep(now=clock.advance(minutes=61))
    assert first["breaches"] == 1 and first["failed"] == 1 and first["actions"] == 1
    assert sweep(now=clock.advance(minutes=1))["failed"] == 0
    trail = make.get(f"incidents/{inc['id']}/audit")
    failures = [e for e in trail if e["action"] == "sla_escalation_failed"]
    assert len(failures) == 1 and "ghost" in failures[0]["new_value"]
    assert make.get(f"incidents/{inc['id']}")["assigned_to"] is None
    assert [c["body"] for c in make.get(f"incidents/{inc['id']}/comments")] == ["breached"]


def test_worker_once_runs_the_sweep(make, clock):
    from typer.testing import CliRunner

    from itsm_ai.cli import app

    make.policy("Fast", response_target=30, resolution_target=60)
    make.incident()
    clock.advance(hours=2)
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "itsm_ai.sla.flows:sweep" in result.output and "'breaches': 2" in result.output
    assert make.clocks("incidents", 1)["resolution"]["breach_fired"]
