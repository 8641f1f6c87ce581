"""Replay of the real ServiceNow incident event log through the incident transition table."""

import csv

import pytest

from itsm_ai.base.states import IncidentState
from itsm_ai.workflow.replay import STATE_MAP, main, replay_incident_log

# Measured on ../shared/data/servicenow_incident_event_log.csv: 2,518 of 2,528 observed transitions accepted.
ACCEPTED_SHARE_FLOOR = 0.996


@pytest.fixture(scope="module")
def report(event_log):
    return replay_incident_log(event_log)


def test_replay_counts(report):
    assert report.events == 5998
    assert report.incidents == 890
    assert report.observed_transitions == 2528
    assert report.accepted + report.refused == report.observed_transitions
    assert sum(g.count for g in report.refused_groups) == report.refused
    assert sum(report.initial_states.values()) == report.incidents


def test_accepted_share_does_not_fall_below_the_measured_floor(report):
    assert report.accepted_share >= ACCEPTED_SHARE_FLOOR, report.format()


def test_refused_groups_are_explained(report):
    groups = {(g.from_state, g.to_state): g for g in report.refused_groups}
    # Resolves whose export has no close code are refused for the missing field, not for the move.
    assert "resolution_code" in groups[("in_progress", "resolved")].explanation
    assert "reopen" in groups[("resolved", "new")].explanation
    assert groups[("new", "closed")].source_pairs == {("New", "Closed"): 1}
    for group in report.refused_groups:
        assert group.explanation and group.examples
    # The real reopen and the on-hold resolve are accepted moves.
    assert ("resolved", "in_progress") not in groups
    assert ("on_hold", "in_progress") not in groups


def test_every_source_state_is_mapped_onto_our_states(event_log):
    with event_log.open(newline="", encoding="utf-8") as handle:
        seen = {row["incident_state"] for row in csv.DictReader(handle)}
    assert seen <= set(STATE_MAP)
    # cancelled is reached only through the documented Closed-without-resolution rule.
    assert {state for state, _ in STATE_MAP.values()} == set(IncidentState) - {IncidentState.cancelled}


def test_sample_has_no_unresolved_closes(report):
    assert report.closed_as_cancelled == 0
    assert report.skipped_rows == {}


@pytest.mark.slow
def test_full_uci_log_replays_above_its_measured_floor(full_event_log):
    report = replay_incident_log(full_event_log, skip_unknown_states=True)
    assert (report.events, report.incidents, report.observed_transitions) == (141707, 24918, 64032)
    assert report.skipped_rows == {"-100": 5}
    # Measured: 63,910 of 64,032 accepted (99.81 %); 13 unresolved closes replayed as cancelled.
    assert report.accepted_share >= 0.998, report.format()
    assert report.closed_as_cancelled == 13


def test_unknown_states_can_be_skipped_and_counted(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "INC1,New,1/3/2016 08:00,?,?,?\nINC1,-100,1/3/2016 09:00,?,?,?\n")
    report = replay_incident_log(path, skip_unknown_states=True)
    assert (report.events, report.skipped_rows) == (1, {"-100": 1})


def test_main_prints_the_report(event_log, capsys):
    assert main([str(event_log)]) == 0
    out = capsys.readouterr().out
    assert "incidents: 890" in out and "refused new -> closed: 1" in out


HEADER = "number,incident_state,sys_updated_at,closed_code,resolved_by,resolved_at\n"


def test_small_log_with_same_minute_rows_keeps_file_order(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        HEADER
        + "INC1,New,01-03-2016 09:00,?,?,?\n"
        + "INC1,Active,01-03-2016 09:00,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC1,Awaiting Vendor,01-03-2016 09:05,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC1,Awaiting User Info,01-03-2016 09:06,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC1,Resolved,01-03-2016 10:00,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC1,Closed,06-03-2016 10:00,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC2,Closed,02-03-2016 10:00,code 1,Resolved by 1,01-03-2016 10:00\n"
        + "INC2,New,01-03-2016 10:00,code 1,Resolved by 1,01-03-2016 10:00\n"
    )
    report = replay_incident_log(path)
    counts = (report.incidents, report.observed_transitions, report.accepted, report.reason_changes)
    assert counts == (2, 6, 5, 1)
    assert [(g.from_state, g.to_state) for g in report.refused_groups] == [("new", "closed")]


def test_closed_without_any_resolution_replays_as_cancelled(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        HEADER
        + "INC3,New,01-03-2016 09:00,code 7,?,?\n"
        + "INC3,Closed,01-03-2016 17:00,code 7,?,?\n"
        # Created already resolved (no resolved_at either): its close is a real close, not a cancel.
        + "INC4,Resolved,01-03-2016 09:00,code 7,?,?\n"
        + "INC4,Closed,06-03-2016 09:00,code 7,?,?\n"
    )
    report = replay_incident_log(path)
    assert (report.observed_transitions, report.accepted, report.closed_as_cancelled) == (2, 2, 1)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("INC1,Open,01-03-2016 09:00,?,?,?\n", "log.csv:3: unknown incident_state 'Open'"),
        ("INC1,New,2016-03-01 09:00,?,?,?\n", "log.csv:3: sys_updated_at"),
    ],
)
def test_bad_rows_are_named_by_line(tmp_path, capsys, row, message):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "INC1,New,01-03-2016 08:00,?,?,?\n" + row)
    with pytest.raises(ValueError, match=message):
        replay_incident_log(path)
    assert main([str(path)]) == 2
    assert message in capsys.readouterr().err


def test_usage_and_missing_columns(tmp_path):
    assert main([]) == 2
    path = tmp_path / "log.csv"
    path.write_text("number,incident_state\nINC1,New\n")
    with pytest.raises(ValueError, match="missing columns"):
        replay_incident_log(path)
