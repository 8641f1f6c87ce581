"""ServiceNow code tables (pure): sys_ids, priority, state codes, dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itsm_ai.base.states import ChangeState, IncidentState, ProblemState, RequestState
from itsm_ai.servicenow import codes


@given(
    record_id=st.integers(min_value=1, max_value=2**63),
    record_type=st.sampled_from(["incident", "user", "group"]),
)
def test_sys_ids_round_trip_and_name_their_type(record_id, record_type):
    sys_id = codes.encode_sys_id(record_type, record_id)
    assert len(sys_id) == 32 and codes.looks_like_sys_id(sys_id)
    assert codes.decode_sys_id(sys_id, record_type) == record_id
    assert codes.decode_sys_id(sys_id.upper(), record_type) == record_id
    other = "problem" if record_type != "problem" else "incident"
    assert codes.decode_sys_id(sys_id, other) is None


def test_sys_ids_sort_like_ids_within_a_type():
    ids = [1, 2, 15, 16, 255, 256, 10**9]
    assert sorted(codes.encode_sys_id("incident", i) for i in ids) == [
        codes.encode_sys_id("incident", i) for i in ids
    ]


@pytest.mark.parametrize("bad", ["", "xyz", "g" * 32, "0" * 31, None])
def test_not_a_sys_id(bad):
    assert codes.decode_sys_id(str(bad), "incident") is None


def test_priority_mapping():
    assert [codes.priority_from_sn(str(p)) for p in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, None]
    assert codes.priority_from_sn("2 - High") == 2
    with pytest.raises(ValueError):
        codes.priority_from_sn("high")


@pytest.mark.parametrize(
    ("table", "states"),
    [
        ("incident", IncidentState),
        ("problem", ProblemState),
        ("change_request", ChangeState),
        ("sc_req_item", RequestState),
    ],
)
def test_every_state_has_one_code_and_back(table, states):
    t = codes.TABLES[table]
    for state in states:
        code = t.state_code(state)
        assert code.lstrip("-").isdigit()
        assert t.state_name(code) == state
        assert t.state_name(state.value) == state  # our names are accepted too
        assert t.state_label(state)
    assert len({t.state_code(s) for s in states}) == len(states)
    assert t.state_name("999") is None


def test_incident_codes_are_servicenows():
    t = codes.TABLES["incident"]
    assert {s: t.state_code(s) for s in IncidentState} == {
        "new": "1",
        "in_progress": "2",
        "on_hold": "3",
        "resolved": "6",
        "closed": "7",
        "cancelled": "8",
    }


def test_dates():
    moment = datetime(2026, 1, 5, 10, 30, 15, tzinfo=UTC)
    assert codes.format_datetime(moment) == "2026-01-05 10:30:15"
    assert codes.parse_datetime("2026-01-05 10:30:15") == moment
    assert codes.parse_datetime("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert codes.parse_datetime("2026-01-05T11:30:15+01:00") == moment
    assert codes.format_datetime(None) == ""
    with pytest.raises(ValueError):
        codes.parse_datetime("yesterday")
