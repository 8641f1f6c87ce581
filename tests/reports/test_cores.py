"""The pure report cores: periods, quantiles and running totals, CSV cells, and a ticket's facts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from itsm_ai.reports import stats, tabular
from itsm_ai.reports.enums import Interval
from itsm_ai.reports.facts import ClockFacts, first_response, suggestion_facts, ticket_facts
from itsm_ai.reports.periods import MAX_PERIODS, epoch, label, period_of, periods
from itsm_ai.workflow.business_calendar import CALENDAR_24X7, BusinessCalendar

T = datetime(2016, 3, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------------------------- periods


def test_months_are_cut_to_the_range():
    out = periods(datetime(2016, 1, 15, tzinfo=UTC), datetime(2016, 4, 10, tzinfo=UTC), "month")
    assert [p.label for p in out] == ["2016-01", "2016-02", "2016-03", "2016-04"]
    assert out[0].start_at == datetime(2016, 1, 15, tzinfo=UTC)
    assert out[1].start_at == datetime(2016, 2, 1, tzinfo=UTC)
    assert out[1].end_at == datetime(2016, 3, 1, tzinfo=UTC)  # 2016 is a leap year: Feb has 29 days
    assert out[-1].end_at == datetime(2016, 4, 10, tzinfo=UTC)
    assert all(a.end == b.start for a, b in zip(out, out[1:], strict=False))


def test_iso_weeks_quarters_years_and_all():
    weeks = periods(datetime(2016, 1, 1, tzinfo=UTC), datetime(2016, 1, 12, tzinfo=UTC), "week")
    # 1 January 2016 is a Friday of ISO week 53 of 2015; weeks start on Monday.
    assert [p.label for p in weeks] == ["2015-W53", "2016-W01", "2016-W02"]
    assert weeks[1].start_at == datetime(2016, 1, 4, tzinfo=UTC)
    quarters = periods(datetime(2016, 2, 1, tzinfo=UTC), datetime(2016, 8, 1, tzinfo=UTC), "quarter")
    assert [p.label for p in quarters] == ["2016-Q1", "2016-Q2", "2016-Q3"]
    years = periods(datetime(2015, 6, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC), Interval.year)
    assert [p.label for p in years] == ["2015", "2016"]
    whole = periods(T, T + timedelta(days=3), "all")
    assert [(p.label, p.start, p.end) for p in whole] == [("all", epoch(T), epoch(T + timedelta(days=3)))]


def test_days_follow_the_zone_across_daylight_saving():
    zone = "Europe/London"
    start = datetime(2016, 3, 26, tzinfo=ZoneInfo(zone))
    out = periods(start, start + timedelta(days=3), "day", zone)
    assert [p.label for p in out] == ["2016-03-26", "2016-03-27", "2016-03-28"]
    assert [p.end - p.start for p in out] == [86_400, 23 * 3600, 86_400]  # clocks go forward on the 27th
    assert out[1].start_at == datetime(2016, 3, 27, tzinfo=UTC)  # local midnight, still GMT


def test_period_of_and_labels():
    p = period_of(datetime(2016, 3, 31, 23, 30, tzinfo=UTC), "month", "Europe/Berlin")
    assert p.label == "2016-04"  # 01:30 on 1 April in Berlin
    assert label(datetime(2016, 3, 1).date(), Interval.day) == "2016-03-01"
    with pytest.raises(ValueError, match="no calendar periods"):
        period_of(T, "all")


def test_bad_ranges_and_too_many_periods():
    with pytest.raises(ValueError, match="end after it starts"):
        periods(T, T, "day")
    with pytest.raises(ValueError, match=f"over {MAX_PERIODS}"):
        periods(datetime(1990, 1, 1, tzinfo=UTC), datetime(2010, 1, 1, tzinfo=UTC), "day")
    with pytest.raises(ValueError, match="no time zone"):
        epoch(datetime(2016, 1, 1))


# ----------------------------------------------------------------------------------------------- stats


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101])
def test_quantiles_match_pandas(n):
    values = np.random.default_rng(n).lognormal(3, 1.5, n)
    expected = pd.Series(values).quantile([0.5, 0.9]).tolist()
    assert stats.quantiles(values, [0.5, 0.9]) == pytest.approx(expected, rel=1e-12)


def test_quantiles_of_nothing_and_parsed_lists():
    assert stats.quantiles([], [0.5, 0.9]) == [None, None]
    assert stats.parse_numbers(None).size == 0 and stats.parse_numbers("").size == 0
    assert stats.parse_numbers("3,1,2.5").tolist() == [3.0, 1.0, 2.5]
    assert stats.quantiles(stats.parse_numbers("4,1,3,2"), [0.5]) == [2.5]


def test_parsed_lists_of_whole_seconds_and_of_reals_agree():
    # Whole seconds take the integer path, anything SQLite writes as a real the float path.
    assert stats.parse_numbers("86400,-5,0,31536000000").tolist() == [86400.0, -5.0, 0.0, 31536000000.0]
    assert stats.parse_numbers("1.0e+20,3").tolist() == [1e20, 3.0]
    assert stats.parse_numbers("2.0,-1.5").tolist() == [2.0, -1.5]
    values = np.random.default_rng(3).integers(-10, 10**9, 5000)
    assert stats.parse_numbers(",".join(map(str, values))).tolist() == values.astype(float).tolist()
    exact = stats.parse_numbers("9007199254740993,-2", exact=True)
    assert exact.dtype == np.int64 and exact.tolist() == [9007199254740993, -2]
    assert stats.parse_numbers(None, exact=True).dtype == np.int64


@pytest.mark.parametrize("whole", [True, False, "int64"])
def test_segment_summaries_equal_one_summary_per_segment(whole):
    # SQLite's grouped walks summarise every (period, group) segment at once; each must be what the summary
    # of that segment's values alone is (empty segments included), bit for bit for whole seconds (a mean of
    # reals may differ in its last digit: another order of summation).
    rng = np.random.default_rng(7)
    segment = rng.integers(0, 40, 3000)
    segment = segment[segment != 13]  # segment 13 has no value
    values = rng.integers(-100, 10**7, segment.size).astype(float)
    if not whole:
        values += rng.random(segment.size)
    bounds = (3600, 86_400, 604_800)
    # SQLite's whole seconds arrive as int64 and are summarised without a float copy: the same figures.
    given = values.astype(np.int64) if whole == "int64" else values
    got = stats.segment_summaries(segment, given, 41, [0.5, 0.9], bounds)
    for s in range(41):
        expected = stats.summary(values[segment == s], [0.5, 0.9], bounds)
        if not whole and expected["n"]:
            assert got[s].pop("mean") == pytest.approx(expected.pop("mean"), rel=1e-15)
        assert got[s] == expected, s
    assert got[13] == {"n": 0, "mean": None, "quantiles": [None, None], "buckets": [0, 0, 0, 0]}
    assert (
        stats.segment_summaries(np.empty(0, dtype=np.int64), np.empty(0), 2, [0.5])
        == [{"n": 0, "mean": None, "quantiles": [None], "buckets": []}] * 2
    )


def test_rates_hours_and_running_totals():
    assert stats.rate(1, 4) == 0.25 and stats.rate(1, 0) is None and stats.rate(None, 3) is None
    assert stats.hours(5400) == 1.5 and stats.hours(None) is None
    assert stats.running_total(10, [1, -2, 3]) == [11, 9, 12]
    assert stats.bucket_counts([[2, 0], [-1, 1]], [1, 1]) == [[3, 1], [2, 2]]
    assert stats.bucket_counts([], [1]) == []


# ----------------------------------------------------------------------------------------------- CSV


def test_csv_neutralises_formulas_but_not_numbers():
    rows = [
        {"group": '=HYPERLINK("http://evil")', "n": -3, "rate": 0.5, "x": None, "ok": True},
        {"group": "+1+1", "n": 2, "rate": float("nan"), "x": "@SUM(A1)", "ok": False},
        {"group": "-2", "n": 0, "rate": 1 / 3, "x": "\tTAB", "ok": None},
        {"group": "plain, with comma", "n": 1, "rate": 1.0, "x": "\r=cmd", "ok": None},
    ]
    text = tabular.to_csv(rows, tabular.columns_of(rows, ["group"]))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["group", "n", "rate", "x", "ok"]
    assert parsed[1] == ['\'=HYPERLINK("http://evil")', "-3", "0.5", "", "true"]
    assert parsed[2] == ["'+1+1", "2", "", "'@SUM(A1)", "false"]
    assert parsed[3] == ["'-2", "0", "0.333333", "'\tTAB", ""]
    assert parsed[4][0] == "plain, with comma" and parsed[4][3] == "'\r=cmd"
    for row in parsed[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell


# ----------------------------------------------------------------------------------------------- facts


def _ticket(**values):
    return {
        "state": "closed",
        "priority": 3,
        "category": "Network",
        "assignment_group_id": 7,
        "assigned_to_id": 9,
        "opened_at": T,
        "resolved_at": T + timedelta(hours=30),
        "closed_at": T + timedelta(days=3),
        "updated_at": T + timedelta(days=3),
        "reassignment_count": 1,
        "reopen_count": 0,
        "extra": None,
        **values,
    }


OFFICE = BusinessCalendar.office_hours(timezone="UTC")  # Mon-Fri 08:00-18:00 (1 March 2016 is a Tuesday)


def _clock(stage="met", **values):
    return ClockFacts(
        stage=stage, deadline=T + timedelta(hours=8), stopped_at=None, calendar=OFFICE, **values
    )


def test_facts_of_a_closed_ticket_with_clocks():
    history = [(T, "new"), (T + timedelta(hours=2), "in_progress"), (T + timedelta(hours=30), "resolved")]
    clocks = {"resolution": _clock("breached"), "response": _clock("met")}
    fact = ticket_facts(record_type="incident", record_id=5, ticket=_ticket(), history=history, clocks=clocks)
    assert fact["opened_at"] == epoch(T)
    assert fact["resolved_at"] == epoch(T + timedelta(hours=30)) == fact["ended_at"]
    assert fact["closed_at"] == epoch(T + timedelta(days=3))
    assert fact["first_response_at"] == epoch(T + timedelta(hours=2))
    # Tue 00:00 -> Wed 06:00 on office hours: Tuesday's 10 hours; 00:00 -> 02:00 is closed time.
    assert (
        fact["resolve_business_seconds"]
        == OFFICE.business_time_between(T, T + timedelta(hours=30)).total_seconds()
    )
    assert fact["resolve_business_seconds"] == 10 * 3600
    assert fact["response_business_seconds"] == 0
    assert (fact["sla_stage"], fact["response_stage"]) == ("breached", "met")
    assert fact["sla_deadline"] == epoch(T + timedelta(hours=8))
    assert fact["reassignment_count"] == 1 and fact["source_made_sla"] is None


def test_facts_without_clocks_use_the_history_and_the_source_verdict():
    ticket = _ticket(extra={"made_sla": False}, reassignment_count=None, reopen_count=None)
    history = [(T, "in_progress"), (T + timedelta(hours=30), "resolved")]
    fact = ticket_facts(record_type="service_request", record_id=1, ticket=ticket, history=history, clocks={})
    assert fact["first_response_at"] == epoch(T)  # opened straight into work
    assert fact["resolve_business_seconds"] is None and fact["sla_stage"] is None
    assert fact["source_made_sla"] is False
    assert fact["reassignment_count"] is None


def test_open_reopened_and_cancelled_tickets():
    open_ = ticket_facts(
        record_type="incident",
        record_id=1,
        ticket=_ticket(state="in_progress", resolved_at=None, closed_at=None),
        history=[(T, "new")],
        clocks={},
    )
    assert open_["ended_at"] is None and open_["resolved_at"] is None and open_["first_response_at"] is None
    # A reopened ticket keeps no resolution time while it is open again, whatever the column says.
    reopened = ticket_facts(
        record_type="incident", record_id=2, ticket=_ticket(state="in_progress"), history=[], clocks={}
    )
    assert reopened["resolved_at"] is None and reopened["closed_at"] is None and reopened["ended_at"] is None
    cancel_at = T + timedelta(hours=5)
    cancelled = ticket_facts(
        record_type="incident",
        record_id=3,
        ticket=_ticket(state="cancelled", resolved_at=None, closed_at=None),
        history=[(T, "new"), (cancel_at, "cancelled")],
        clocks={},
    )
    assert cancelled["ended_at"] == epoch(cancel_at)
    assert cancelled["first_response_at"] is None  # cancelled straight from intake: never responded


def test_an_end_before_the_opening_is_the_opening():
    ticket = _ticket(resolved_at=T - timedelta(hours=1))
    fact = ticket_facts(record_type="incident", record_id=1, ticket=ticket, history=[], clocks={})
    assert fact["ended_at"] == epoch(T)
    assert fact["resolved_at"] == epoch(T - timedelta(hours=1))  # reported as recorded


def test_first_response_prefers_the_stopped_response_clock():
    stopped = ClockFacts(
        stage="met", deadline=None, stopped_at=T + timedelta(minutes=7), calendar=CALENDAR_24X7
    )
    assert (
        first_response([(T, "new"), (T + timedelta(hours=1), "in_progress")], stopped) == stopped.stopped_at
    )
    custom = ClockFacts(
        stage="in_progress",
        deadline=None,
        stopped_at=None,
        calendar=CALENDAR_24X7,
        response_states=frozenset({"new", "assess"}),
    )
    history = [(T, "new"), (T + timedelta(hours=1), "assess"), (T + timedelta(hours=2), "in_progress")]
    assert first_response(history, custom) == T + timedelta(hours=2)


def test_suggestion_facts():
    fact = ticket_facts(record_type="incident", record_id=4, ticket=_ticket(), history=[], clocks={})
    suggestions = {
        "fields": {
            "category": {
                "status": "suggested",
                "value": "Network",
                "model": "category",
                "version": "v0002",
                "feedback": {"action": "accepted", "by": "agent"},
            },
            "priority": {"status": "abstained", "model": "priority", "version": "v0001"},
            "assignment_group": {"status": "unavailable", "reason": "no model"},
            "broken": "not a dict",
        },
        "similar": [],
    }
    rows = {r["field"]: r for r in suggestion_facts(fact, suggestions)}
    assert set(rows) == {"category", "priority", "assignment_group"}
    assert rows["category"]["feedback"] == "accepted" and rows["category"]["model_version"] == "v0002"
    assert rows["priority"]["feedback"] is None and rows["assignment_group"]["model"] == ""
    assert rows["category"]["opened_at"] == fact["opened_at"] and rows["category"]["assignment_group_id"] == 7
    assert suggestion_facts(fact, None) == []


@pytest.mark.parametrize("dtype", [np.int64, float])
def test_segment_histograms_with_bounds_outside_the_values(dtype):
    # The histogram of whole seconds comes from binary searches of the sorted (segment, value) keys: bounds
    # below the smallest value, above the largest, between two, and on a value all count as a summary's.
    rng = np.random.default_rng(3)
    segment = rng.integers(0, 9, 500)
    values = rng.integers(-20, 5000, segment.size).astype(dtype)
    bounds = (-1000, -20, 0, 2500.5, 4999, 10**13)
    got = stats.segment_summaries(segment, values, 10, [0.5], bounds)
    for s in range(10):
        assert got[s] == stats.summary(values[segment == s].astype(float), [0.5], bounds), s
