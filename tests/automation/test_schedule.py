"""Time-based rules: the pure schedule maths, and the worker job firing once per ticket per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from itsm_ai import database
from itsm_ai.automation import engine
from itsm_ai.automation.models import Rule
from itsm_ai.automation.schedule import (
    Schedule,
    ScheduleError,
    due_anchors,
    every_window,
    parse_schedule,
    window_key,
)
from itsm_ai.database import utcnow

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ([], "schedule"),
        ({}, "schedule"),
        ({"every_minutes": 5, "after_minutes": 5}, "schedule"),
        ({"every_minutes": True}, "schedule.every_minutes"),
        ({"after_minutes": 10**7}, "schedule.after_minutes"),
        ({"every_minutes": 5, "since": "opened_at"}, "schedule.since"),
        ({"after_minutes": 5, "since": "closed_at"}, "schedule.since"),
        ({"every_minutes": 5, "cron": "*"}, "schedule.cron"),
    ],
)
def test_bad_schedules_name_the_path(obj, path):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(obj)
    assert err.value.path == path


def test_windows_and_due_anchors():
    every = parse_schedule({"every_minutes": 30})
    assert every == Schedule(every_minutes=30) and every.to_json() == {"every_minutes": 30}
    assert every_window(every, T0) == every_window(every, T0 + timedelta(minutes=29, seconds=59))
    assert every_window(every, T0 + timedelta(minutes=30)) == every_window(every, T0) + 1
    assert window_key(every, T0) == f"every:{every_window(every, T0)}"
    after = parse_schedule({"after_minutes": 60, "since": "updated_at"})
    assert after.to_json() == {"after_minutes": 60, "since": "updated_at"}
    assert window_key(after, T0, T0 - timedelta(hours=2)) == "after:2026-03-02T07:00:00.000000+00:00"
    assert due_anchors(after, T0, T0 + timedelta(minutes=5)) == (
        T0 - timedelta(hours=1),
        T0 - timedelta(minutes=55),
    )


def comments(api, inc) -> list[str]:
    return [c["body"] for c in api.get(f"incidents/{inc['id']}/comments")]


def test_every_n_minutes_fires_once_per_ticket_per_window(api):
    rule = api.rule(
        trigger="scheduled",
        schedule={"every_minutes": 60},
        conditions={"field": "state", "op": "eq", "value": "new"},
        actions=[{"type": "add_comment", "body": "Still new: {number}"}],
    )
    new, started = api.incident(), api.incident()
    api.patch(f"incidents/{started['id']}", {"state": "in_progress"}, as_="agent")
    now = utcnow()
    first = engine.run_scheduled(now=now)
    assert (first["fired"], first["scanned"]) == (1, 2)
    assert engine.run_scheduled(now=now)["fired"] == 0  # the same window: the rule already ran
    with database.get_session() as s:
        s.get(Rule, rule["id"]).last_window = None  # as if a second worker had not seen the first finish
    assert engine.run_scheduled(now=now) == {"rules": 1, "fired": 0, "failed": 0, "skipped": 1, "scanned": 2}
    assert engine.run_scheduled(now=now + timedelta(minutes=60))["fired"] == 1
    assert comments(api, new) == [f"Still new: {new['number']}"] * 2 and comments(api, started) == []
    [applied, _] = [a for a in api.get(f"incidents/{new['id']}/audit") if a["action"] == "rule_applied"]
    assert applied["new_value"].startswith("scheduled:")


def test_after_n_minutes_without_change_fires_once_per_idle_period(api):
    api.rule(
        trigger="scheduled",
        schedule={"after_minutes": 240, "since": "updated_at"},
        conditions={"field": "state", "op": "in", "value": ["new", "in_progress"]},
        actions=[{"type": "add_comment", "body": "No change for 4 hours"}],
    )
    idle, busy = api.incident(), api.incident()
    now = utcnow()
    assert engine.run_scheduled(now=now + timedelta(hours=3))["fired"] == 0
    api.patch(f"incidents/{busy['id']}", {"description": "working on it"}, as_="agent")
    # `busy` changed after `now`, so at now + 4h only `idle` has been without change for 4 hours.
    assert engine.run_scheduled(now=now + timedelta(hours=4))["fired"] == 1
    assert engine.run_scheduled(now=now + timedelta(hours=4))["fired"] == 0
    assert comments(api, idle) == ["No change for 4 hours"] and comments(api, busy) == []
    # The update re-anchored `busy`: it fires 4 hours after its change, however late the worker runs.
    assert engine.run_scheduled(now=now + timedelta(hours=9))["fired"] == 1
    assert comments(api, busy) == ["No change for 4 hours"] and len(comments(api, idle)) == 1


def test_disabled_scheduled_rules_do_not_run(api):
    api.rule(
        trigger="scheduled",
        enabled=False,
        schedule={"every_minutes": 5},
        actions=[{"type": "add_comment", "body": "x"}],
    )
    api.incident()
    assert engine.run_scheduled(now=utcnow())["rules"] == 0
