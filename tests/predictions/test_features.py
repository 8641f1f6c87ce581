"""Snapshots from an event log built here: only what was known at the prediction point, right labels."""

from __future__ import annotations

import pandas as pd
import pytest

from itsm_ai.predictions.features import event_log_snapshots, prepare_event_log, state_hours

COLUMNS = (
    "number,incident_state,reassignment_count,reopen_count,made_sla,caller_id,opened_at,sys_updated_at,"
    "contact_type,location,category,subcategory,u_symptom,cmdb_ci,impact,urgency,priority,assignment_group,"
    "assigned_to,resolved_at,closed_at"
)
# number, state, reassignments, made_sla, caller, opened, updated, contact, CI, impact,urgency,priority,
# group, assignee, resolved_at
TEMPLATE = "{},{},{},0,{},{},1/3/2016 {},1/3/2016 {},{},3,55,170,72,{},{},{},{},1/3/2016 {},2/3/2016 12:00"
ROWS = [
    # INC1: opened 09:00, assigned at 09:30 (a reassignment at 11:00), resolved at 12:00; breached.
    TEMPLATE.format(1, "New", 0, "true", 7, "09:00", "09:05", "Phone", "?", "2,2,3", 56, "?", "12:00"),
    TEMPLATE.format(1, "Active", 0, "true", 7, "09:00", "09:30", "Phone", "?", "2,2,3", 56, 9, "12:00"),
    TEMPLATE.format(1, "Active", 1, "false", 7, "09:00", "11:00", "Phone", "?", "2,2,3", 57, 9, "12:00"),
    TEMPLATE.format(1, "Resolved", 1, "false", 7, "09:00", "12:00", "Phone", "?", "2,2,3", 57, 9, "12:00"),
    # INC2: opened 09:10, resolved at 09:40: gone before the one-hour point; never assigned.
    TEMPLATE.format(2, "New", 0, "true", 8, "09:10", "09:10", "Email", 5, "1,1,1", 56, "?", "09:40"),
    TEMPLATE.format(2, "Resolved", 0, "true", 8, "09:10", "09:40", "Email", 5, "1,1,1", 56, "?", "09:40"),
]


@pytest.fixture
def log() -> pd.DataFrame:
    header = COLUMNS.split(",")
    raw = pd.DataFrame([r.split(",") for r in ROWS], columns=header, dtype=str)
    return prepare_event_log(raw)


def test_at_open_only_the_first_row_counts(log):
    rows = event_log_snapshots(log, "open").set_index("number")
    first = rows.loc["1"]
    assert (first["group"], first["state"], first["reassignment_count"]) == ("Group 56", "new", 0)
    assert first["assigned"] == 0.0 and first["updates"] == 1.0
    assert (first["category"], first["symptom"], first["priority"]) == ("Category 55", "Symptom 72", "3")
    assert bool(first["breached"]) is True  # the label is the final made_sla, never a feature
    assert first["hours_to_resolve"] == pytest.approx(3.0 - 5 / 60)
    # INC2 opened at 09:10 while INC1 was open: both count in the group's backlog at 09:10.
    assert rows.loc["2", "group_backlog"] == 2 and rows.loc["2", "category_arrivals_24h"] == 2
    assert rows.loc["2", "ci"] == "cmdb_ci 5"


def test_after_one_hour_later_events_stay_out_and_resolved_tickets_drop(log):
    rows = event_log_snapshots(log, "1h").set_index("number")
    assert list(rows.index) == ["1"]  # INC2 was resolved at 09:40
    one = rows.loc["1"]
    assert one["reassignment_count"] == 0 and one["group"] == "Group 56"  # the 11:00 reassignment is later
    assert one["assigned"] == 1.0 and one["state"] == "in_progress"
    assert one["elapsed_hours"] == pytest.approx(1.0)
    assert one["hours_new"] == pytest.approx(0.5) and one["hours_in_progress"] == pytest.approx(0.5)
    assert one["hours_to_resolve"] == pytest.approx(2.0)
    assert one["backlog"] == 1  # INC2 had ended by 10:00


def test_after_first_assignment(log):
    rows = event_log_snapshots(log, "assigned").set_index("number")
    assert list(rows.index) == ["1"]  # INC2 never had an assignee
    assert rows.loc["1", "elapsed_hours"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="point"):
        event_log_snapshots(log, "tomorrow")


def test_state_hours_ignores_what_comes_after():
    hours = state_hours([("new", 0.0), ("in_progress", 3600.0), ("on_hold", 7200.0)], until=5400.0)
    assert hours == {"hours_new": 1.0, "hours_in_progress": 0.5, "hours_on_hold": 0.0}
    assert state_hours([], until=10.0)["hours_new"] == 0.0
