"""SLA maths: exact examples on a GB business calendar (weekend, Christmas) and hypothesis properties."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from itsm_ai.workflow.business_calendar import CALENDAR_24X7
from itsm_ai.workflow.conditions import ConditionError
from itsm_ai.workflow.sla_clock import (
    ClockEventKind,
    NoPolicyError,
    SlaPolicy,
    SlaStage,
    compute_clock,
    policy_condition,
    select_policy,
)

LONDON = ZoneInfo("Europe/London")
H = timedelta(hours=1)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


# Opened Friday 20 Dec 2024 16:00, picked up Monday, on hold two hours waiting for the caller.
HISTORY = [
    (at(2024, 12, 20, 16, 0), "new"),
    (at(2024, 12, 23, 9, 30), "in_progress"),
    (at(2024, 12, 23, 10, 0), "on_hold"),
    (at(2024, 12, 23, 12, 0), "in_progress"),
]


def kinds(clock):
    return [(e.kind, e.at) for e in clock.events]


def test_resolution_clock_across_weekend_christmas_and_a_pause(gb_policy):
    clock = compute_clock(HISTORY, gb_policy, now=at(2024, 12, 24, 12, 0))
    # Fri 16-17, Mon 9-10 and 12-17, Tue 9-12: 10 business hours; on hold Mon 10-12.
    assert clock.elapsed == 10 * H
    assert clock.paused == 2 * H
    assert clock.percent == pytest.approx(100 * 10 / 24)
    assert clock.stage is SlaStage.in_progress
    # 24h target + 2h paused from Fri 16:00: Christmas and Boxing Day closed, so Monday 30 Dec 10:00.
    assert clock.deadline == at(2024, 12, 30, 10, 0)
    assert clock.breach_at == clock.deadline
    # 75 % = 18h: 10h by Tue noon, 5h more on Tue, 3h on Fri 27.
    assert clock.warning_at == at(2024, 12, 27, 12, 0)
    assert kinds(clock) == [
        (ClockEventKind.start, at(2024, 12, 20, 16, 0)),
        (ClockEventKind.pause, at(2024, 12, 23, 10, 0)),
        (ClockEventKind.resume, at(2024, 12, 23, 12, 0)),
    ]


def test_warning_then_breach_are_audited(gb_policy):
    assert compute_clock(HISTORY, gb_policy, now=at(2024, 12, 27, 11, 59)).stage is SlaStage.in_progress
    warned = compute_clock(HISTORY, gb_policy, now=at(2024, 12, 27, 12, 0))
    assert warned.stage is SlaStage.warning
    assert warned.events[-1].kind is ClockEventKind.warning
    breached = compute_clock(HISTORY, gb_policy, now=at(2024, 12, 30, 11, 0))
    assert breached.stage is SlaStage.breached and breached.breached
    assert breached.elapsed == 25 * H and breached.remaining == -H
    assert breached.deadline == breached.breach_at == at(2024, 12, 30, 10, 0)
    assert kinds(breached)[-2:] == [
        (ClockEventKind.warning, at(2024, 12, 27, 12, 0)),
        (ClockEventKind.breach, at(2024, 12, 30, 10, 0)),
    ]


def test_paused_clock_shows_paused_and_projects_from_now(gb_policy):
    history = [*HISTORY, (at(2024, 12, 27, 14, 0), "on_hold")]
    clock = compute_clock(history, gb_policy, now=at(2024, 12, 30, 9, 0))
    assert clock.elapsed == 20 * H  # past the 75 % warning, but paused wins
    assert clock.stage is SlaStage.paused
    assert clock.paused == 5 * H
    assert clock.deadline == at(2024, 12, 30, 13, 0)
    assert clock.warning_at == at(2024, 12, 27, 12, 0)


def test_resolve_then_reopen_resumes_from_the_elapsed_time(gb_policy):
    history = [
        *HISTORY,
        (at(2024, 12, 24, 12, 0), "resolved"),  # elapsed 10h
        (at(2024, 12, 27, 9, 0), "in_progress"),  # reopened after Christmas
    ]
    resolved = compute_clock(history[:-1], gb_policy, now=at(2024, 12, 27, 8, 0))
    assert resolved.stage is SlaStage.met
    assert resolved.stopped_at == at(2024, 12, 24, 12, 0)
    assert resolved.elapsed == 10 * H
    reopened = compute_clock(history, gb_policy, now=at(2024, 12, 27, 11, 0))
    assert reopened.elapsed == 12 * H  # Tue 24 12-17 spent resolved never counts
    assert reopened.stage is SlaStage.in_progress
    assert reopened.stopped_at is None
    # 12h left from Fri 27 09:00 + the 2h already done = 14h remaining at 09:00 -> 8h Fri, 6h Mon 30.
    assert reopened.deadline == at(2024, 12, 30, 15, 0)
    assert [e.kind for e in reopened.events][-2:] == [ClockEventKind.stop, ClockEventKind.resume]


def test_priority_change_keeps_the_paused_time(gb_policy, gb_calendar):
    p1 = SlaPolicy("P1 GB", response_target=H, resolution_target=8 * H, calendar=gb_calendar)
    now = at(2024, 12, 23, 15, 0)
    before, after = compute_clock(HISTORY, gb_policy, now=now), compute_clock(HISTORY, p1, now=now)
    assert after.paused == before.paused == 2 * H
    assert after.elapsed == before.elapsed == 5 * H
    # 8h + 2h paused from Fri 16:00: 1h Fri, 8h Mon, 1h Tue -> Tue 24 Dec 10:00.
    assert after.deadline == at(2024, 12, 24, 10, 0)
    assert after.stage is SlaStage.in_progress and before.stage is SlaStage.in_progress


def test_response_clock_stops_when_the_ticket_leaves_new(gb_policy):
    clock = compute_clock(HISTORY, gb_policy, now=at(2024, 12, 24, 12, 0), kind="response")
    assert clock.stage is SlaStage.met
    assert clock.elapsed == 90 * timedelta(minutes=1)
    assert clock.stopped_at == at(2024, 12, 23, 9, 30)
    assert clock.deadline == at(2024, 12, 23, 12, 0)
    late = [
        (at(2024, 12, 20, 16, 0), "new"),
        (at(2024, 12, 23, 14, 0), "on_hold"),
        (at(2024, 12, 23, 15, 0), "new"),
    ]
    clock = compute_clock(late, gb_policy, now=at(2024, 12, 24, 12, 0), kind="response")
    # Breached at Mon 12:00; going back to new does not restart the response clock.
    assert clock.stage is SlaStage.breached
    assert clock.breach_at == at(2024, 12, 23, 12, 0)
    assert clock.elapsed == 6 * H


def test_reaching_the_target_exactly_is_a_breach(gb_policy):
    # 24 business hours from Fri 20 Dec 16:00 without a pause end on Fri 27 Dec 16:00.
    history = [(at(2024, 12, 20, 16, 0), "in_progress"), (at(2024, 12, 27, 16, 0), "resolved")]
    clock = compute_clock(history, gb_policy, now=at(2025, 1, 6, 9, 0))
    assert clock.elapsed == 24 * H
    assert clock.stage is SlaStage.breached
    assert clock.breach_at == clock.deadline == at(2024, 12, 27, 16, 0)
    met = compute_clock(
        [history[0], (at(2024, 12, 27, 15, 59), "resolved")], gb_policy, now=at(2025, 1, 6, 9, 0)
    )
    assert met.stage is SlaStage.met and met.breach_at is None


def test_cancelled_clock(gb_policy):
    clock = compute_clock(
        [*HISTORY, (at(2024, 12, 23, 13, 0), "cancelled")], gb_policy, now=at(2025, 1, 10, 9, 0)
    )
    assert clock.stage is SlaStage.cancelled
    assert clock.breach_at is None
    assert clock.events[-1].kind is ClockEventKind.stop and clock.events[-1].state == "cancelled"


def test_events_after_now_are_ignored_and_bad_input_refused(gb_policy):
    assert compute_clock(HISTORY, gb_policy, now=at(2024, 12, 23, 9, 45)).paused == timedelta(0)
    with pytest.raises(ValueError, match="at least one"):
        compute_clock(HISTORY, gb_policy, now=at(2024, 12, 1, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_clock(HISTORY, gb_policy, now=datetime(2024, 12, 24, 12, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_clock([(datetime(2024, 12, 20, 16, 0), "new")], gb_policy, now=at(2024, 12, 24, 12, 0))


def test_policy_validation():
    with pytest.raises(ValueError, match="positive"):
        SlaPolicy("x", response_target=timedelta(0), resolution_target=H)
    with pytest.raises(ValueError, match="warning_percent"):
        SlaPolicy("x", response_target=H, resolution_target=H, warning_percent=120)
    with pytest.raises(ConditionError, match=r"policies\[x\]\.condition\.op"):
        SlaPolicy("x", response_target=H, resolution_target=H, condition={"field": "priority", "op": "=="})
    with pytest.raises(ValueError, match="two clock roles"):
        SlaPolicy("x", response_target=H, resolution_target=H, paused_states={"resolved"})


def test_policy_json_round_trip_and_errors(gb_policy):
    stored = {
        "name": "P1 network",
        "response_target_minutes": 30,
        "resolution_target_minutes": 240,
        "calendar": gb_policy.calendar.to_json(),
        "condition": policy_condition(priorities=[1], categories=["network"]),
        "warning_percent": 80,
        "paused_states": ["on_hold"],
    }
    policy = SlaPolicy.from_json(stored)
    assert policy.resolution_target == 4 * H and policy.calendar == gb_policy.calendar
    assert policy.matches({"priority": 1, "category": "network"})
    assert SlaPolicy.from_json(policy.to_json()).to_json() == policy.to_json()
    with pytest.raises(ValueError, match="response_target_minutes"):
        SlaPolicy.from_json({**stored, "response_target_minutes": "30"})
    with pytest.raises(ValueError, match="unknown keys"):
        SlaPolicy.from_json({**stored, "target": 3})
    with pytest.raises(ValueError, match="warning_percent"):
        SlaPolicy.from_json({**stored, "warning_percent": "80"})
    with pytest.raises(ConditionError, match=r"condition\.all\[0\]\.value"):
        SlaPolicy.from_json({**stored, "condition": {"all": [{"field": "priority", "op": "in", "value": 1}]}})


def test_select_policy_first_conditional_match_then_fallback():
    fallback = SlaPolicy("default", response_target=8 * H, resolution_target=40 * H)
    p1 = SlaPolicy("P1", H, 4 * H, condition=policy_condition(record_type="incident", priorities=[1]))
    vip = SlaPolicy("VIP", H, 8 * H, condition=policy_condition(caller_organisations=["Board"]))
    network = SlaPolicy(
        "network P1-2", 2 * H, 6 * H, condition=policy_condition(priorities=[1, 2], categories=["network"])
    )
    policies = [fallback, p1, vip, network]
    assert select_policy({"record_type": "incident", "priority": 1, "category": "network"}, policies) is p1
    assert (
        select_policy({"record_type": "incident", "priority": 2, "category": "network"}, policies) is network
    )
    assert select_policy({"priority": 3, "caller_organisation": "Board"}, policies) is vip
    assert select_policy({"record_type": "incident", "priority": 4}, policies) is fallback
    with pytest.raises(NoPolicyError):
        select_policy({"priority": 4}, [p1, vip])
    assert policy_condition() == {}


# -- properties --------------------------------------------------------------------------------------------

START = datetime(2024, 12, 2, 8, 0, tzinfo=UTC)
gaps = st.integers(min_value=1, max_value=60 * 24 * 4).map(lambda m: timedelta(minutes=m))
states = st.sampled_from(["in_progress", "on_hold", "resolved", "new"])
targets = st.integers(min_value=1, max_value=60).map(lambda h: timedelta(hours=h))


@st.composite
def histories(draw, min_events=1, max_events=8):
    offset = draw(st.integers(min_value=0, max_value=60 * 24 * 14)) * timedelta(minutes=1)
    t = START + offset
    events = [(t, "new")]
    for _ in range(draw(st.integers(min_value=min_events - 1, max_value=max_events - 1))):
        t += draw(gaps)
        events.append((t, draw(states)))
    now = t + draw(st.integers(min_value=0, max_value=60 * 24 * 10)) * timedelta(minutes=1)
    return events, now


def policy_for(calendar, target):
    return SlaPolicy("prop", response_target=target, resolution_target=target, calendar=calendar)


def counted_time(calendar, history, now, counting_states):
    """Independent oracle: business time spent in `counting_states` up to now."""
    bounds = [t for t, _ in history[1:]] + [now]
    return sum(
        (
            calendar.business_time_between(t, end)
            for (t, s), end in zip(history, bounds, strict=True)
            if s in counting_states
        ),
        timedelta(0),
    )


@settings(max_examples=150, deadline=None)
@given(case=histories(), target=targets)
def test_elapsed_and_pause_are_the_business_time_in_their_states(gb_calendar, case, target):
    history, now = case
    clock = compute_clock(history, policy_for(gb_calendar, target), now=now)
    assert clock.elapsed == counted_time(gb_calendar, history, now, {"new", "in_progress"})
    assert clock.paused == counted_time(gb_calendar, history, now, {"on_hold"})
    assert (
        timedelta(0) <= clock.elapsed + clock.paused <= gb_calendar.business_time_between(history[0][0], now)
    )
    assert clock.elapsed + clock.paused <= now - history[0][0]
    assert clock.breached == (clock.stage is SlaStage.breached)
    assert [e.at for e in clock.events] == sorted(e.at for e in clock.events)
    assert all(history[0][0] <= e.at <= now for e in clock.events)


@settings(max_examples=100, deadline=None)
@given(case=histories(), target=targets)
def test_24x7_elapsed_is_wall_time_outside_pauses_and_resolution(case, target):
    history, now = case
    clock = compute_clock(history, policy_for(CALENDAR_24X7, target), now=now)
    bounds = [t for t, _ in history[1:]] + [now]
    wall = sum(
        (end - t for (t, s), end in zip(history, bounds, strict=True) if s in {"new", "in_progress"}),
        timedelta(0),
    )
    assert clock.elapsed == wall


@settings(max_examples=150, deadline=None)
@given(case=histories(min_events=2), target=targets, data=st.data())
def test_pausing_never_makes_the_deadline_earlier(gb_calendar, case, target, data):
    history, now = case
    working = [i for i, (_, s) in enumerate(history) if s in {"new", "in_progress"}]
    index = data.draw(st.sampled_from(working))
    paused = list(history)
    paused[index] = (history[index][0], "on_hold")
    policy = policy_for(gb_calendar, target)
    base, with_pause = compute_clock(history, policy, now=now), compute_clock(paused, policy, now=now)
    assert with_pause.deadline >= base.deadline
    assert with_pause.elapsed <= base.elapsed
    assert with_pause.paused >= base.paused


@settings(max_examples=150, deadline=None)
@given(
    case=histories(max_events=4),
    target=targets,
    pause_after=gaps,
    pause_length=gaps,
    ongoing=st.booleans(),
    extra=gaps,
)
def test_a_pause_moves_the_deadline_by_exactly_the_business_time_paused(
    gb_calendar, case, target, pause_after, pause_length, ongoing, extra
):
    history, _ = case
    history = [(t, "in_progress" if s != "new" else s) for t, s in history]  # keep it counting
    p1 = history[-1][0] + pause_after
    p2 = p1 + pause_length
    policy = policy_for(gb_calendar, target)
    with_pause = [*history, (p1, "on_hold")] if ongoing else [*history, (p1, "on_hold"), (p2, "in_progress")]
    now = p2 + (timedelta(0) if ongoing else extra)
    base = compute_clock(history, policy, now=now)
    assume(compute_clock(history, policy, now=p1).elapsed < target)  # not breached before the pause
    clock = compute_clock(with_pause, policy, now=now)
    assert clock.paused == gb_calendar.business_time_between(p1, p2)
    assert gb_calendar.business_time_between(base.deadline, clock.deadline) == clock.paused


@settings(max_examples=100, deadline=None)
@given(case=histories(), target=targets, later=st.lists(gaps, min_size=1, max_size=4))
def test_clock_is_monotone_in_now(gb_calendar, case, target, later):
    history, now = case
    policy = policy_for(gb_calendar, target)
    previous = compute_clock(history, policy, now=now)
    for step in later:
        now += step
        clock = compute_clock(history, policy, now=now)
        assert clock.deadline >= previous.deadline
        assert clock.elapsed >= previous.elapsed
        assert clock.paused >= previous.paused
        assert clock.percent >= previous.percent
        if previous.breached:
            assert clock.breached and clock.breach_at == previous.breach_at
        previous = clock


@settings(max_examples=100, deadline=None)
@given(case=histories(), a=targets, b=targets)
def test_recomputing_with_another_policy_keeps_elapsed_and_paused(gb_calendar, case, a, b):
    history, now = case
    first, second = (compute_clock(history, policy_for(gb_calendar, t), now=now) for t in (a, b))
    assert (first.elapsed, first.paused) == (second.elapsed, second.paused)
    if a <= b:
        assert first.deadline <= second.deadline


@settings(max_examples=100, deadline=None)
@given(case=histories(), target=targets)
def test_thresholds_are_consistent(gb_calendar, case, target):
    history, now = case
    clock = compute_clock(history, policy_for(gb_calendar, target), now=now)
    assert clock.breached == (clock.breach_at is not None and clock.breach_at <= now)
    warned = clock.warning_at is not None and clock.warning_at <= now
    assert warned == (clock.elapsed >= target * 0.75)
    if clock.breach_at is not None:
        assert clock.warning_at is not None and clock.warning_at <= clock.breach_at
        assert gb_calendar.business_time_between(clock.started_at, clock.breach_at) >= target
    if clock.stage is SlaStage.met:
        assert clock.elapsed < target and clock.breach_at is None
