"""Ticket SLA clocks via the API with a controllable clock: selection, calendars, pause, reopen, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tests.api.conftest import API, assert_error
from tests.sla.conftest import T0, at_utc

H = timedelta(hours=1)
ON_HOLD = {"state": "on_hold", "on_hold_reason": "awaiting_caller"}
RESOLVE = {"state": "resolved", "resolution_code": "solved", "resolution_notes": "Restarted the relay."}
P1 = {"field": "priority", "op": "in", "value": [1]}


def test_builtin_defaults_by_priority_and_none_for_changes(make, clock):
    critical = make.incident(impact=1, urgency=1)
    low = make.incident()
    clocks = make.clocks("incidents", critical["number"])
    assert {c["policy"] for c in clocks.values()} == {"Default P1"}
    assert clocks["response"]["target_minutes"] == 15 and clocks["resolution"]["target_minutes"] == 240
    assert at_utc(clocks["resolution"]["deadline"]) == T0 + 4 * H
    assert make.clocks("incidents", low["id"])["resolution"]["policy"] == "Default P4"
    assert make.clocks("requests", make.request()["id"])["resolution"]["policy"] == "Default P4"
    assert make.get(f"changes/{make.change()['id']}/sla") == []


def test_selection_by_caller_organisation_and_priority_with_fallback(make, clock):
    make.user("vip-user", organisation="ACME")
    make.user("plain-user", organisation="Globex")
    make.policy("ACME", order=10, condition={"field": "caller_organisation", "op": "eq", "value": "ACME"})
    make.policy("Critical", order=20, condition=P1, resolution_target=240)
    make.policy("Disabled catch-all", order=0, enabled=False)
    make.policy("Email", order=25, condition={"field": "service", "op": "eq", "value": "Email"})
    make.policy("Standard", order=30)
    make.asset("Email", ci_class="service")

    def policy_of(inc):
        return make.clocks("incidents", inc["id"])["resolution"]["policy"]

    assert policy_of(make.incident(caller="vip-user", impact=1, urgency=1)) == "ACME"  # first match wins
    critical = make.incident(caller="plain-user", impact=1, urgency=1)
    assert policy_of(critical) == "Critical"
    assert policy_of(make.incident(caller="plain-user")) == "Standard"
    assert policy_of(make.incident(caller="plain-user", configuration_items=["Email"])) == "Email"
    # A changed caller or priority re-selects.
    make.patch(f"incidents/{critical['id']}", {"caller": "vip-user"})
    assert policy_of(critical) == "ACME"
    make.patch(f"incidents/{critical['id']}", {"caller": "plain-user", "impact": 3})
    assert policy_of(critical) == "Standard"
    assert ("sla_policy_changed", "resolution") in make.sla_audit("incidents", critical["id"])


def test_business_calendar_skips_the_weekend_and_easter(make, clock):
    make.calendar(
        "London",
        timezone="Europe/London",
        hours={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        country="GB",
        subdiv="ENG",
    )
    make.policy("Office hours", calendar="London", response_target=120, resolution_target=4 * 60)
    # Maundy Thursday 17 April 2025, 16:00 BST; Good Friday and Easter Monday are bank holidays in England.
    clock.now = datetime(2025, 4, 17, 15, 0, tzinfo=UTC)
    inc = make.incident()
    clocks = make.clocks("incidents", inc["id"])
    assert clocks["resolution"]["calendar"] == "London"
    # 1 h on Thursday, then nothing until Tuesday 22 April 09:00 BST: 3 h more is 12:00 BST (11:00 UTC).
    assert at_utc(clocks["resolution"]["deadline"]) == datetime(2025, 4, 22, 11, 0, tzinfo=UTC)
    assert at_utc(clocks["response"]["deadline"]) == datetime(2025, 4, 22, 9, 0, tzinfo=UTC)
    clock.now = datetime(2025, 4, 22, 10, 0, tzinfo=UTC)  # Tuesday 11:00 BST: 1 h + 2 h of 4 h
    resolution = make.clocks("incidents", inc["id"])["resolution"]
    assert resolution["elapsed_seconds"] == 3 * 3600 and resolution["stage"] == "warning"
    assert resolution["percent"] == 75.0


def test_on_hold_pauses_and_resumes_each_audited_once(make, clock):
    make.policy("Standard", response_target=90, resolution_target=8 * 60)
    inc = make.incident()
    clock.advance(hours=1)
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    clock.advance(hours=1)
    make.patch(f"incidents/{inc['id']}", ON_HOLD)
    clock.advance(hours=3)
    paused = make.clocks("incidents", inc["id"])["resolution"]
    assert paused["stage"] == "paused" and paused["elapsed_seconds"] == 2 * 3600
    assert paused["paused_seconds"] == 3 * 3600
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    clock.advance(hours=1)
    make.patch(f"incidents/{inc['id']}", {"description": "unrelated edit"})
    clocks = make.clocks("incidents", inc["id"])
    resolution = clocks["resolution"]
    assert resolution["stage"] == "in_progress"
    assert resolution["elapsed_seconds"] == 3 * 3600 and resolution["paused_seconds"] == 3 * 3600
    assert at_utc(resolution["deadline"]) == T0 + 8 * H + 3 * H
    assert clocks["response"]["stage"] == "met" and at_utc(clocks["response"]["stopped_at"]) == T0 + H
    assert make.sla_audit("incidents", inc["id"]) == [
        ("sla_start", "response"),
        ("sla_start", "resolution"),
        ("sla_stop", "response"),
        ("sla_pause", "resolution"),
        ("sla_resume", "resolution"),
    ]
    pause = next(e for e in make.get(f"incidents/{inc['id']}/audit") if e["action"] == "sla_pause")
    assert (
        at_utc(pause["at"]) == T0 + 2 * H and pause["source"] == "sla" and '"on_hold"' in pause["new_value"]
    )


def test_paused_time_survives_a_priority_change(make, clock):
    make.policy("Critical", order=1, condition=P1, resolution_target=4 * 60)
    make.policy("Standard", order=2, resolution_target=8 * 60)
    inc = make.incident(state="in_progress")
    clock.advance(hours=1)
    make.patch(f"incidents/{inc['id']}", ON_HOLD)
    clock.advance(hours=1)
    # Raised to P1 while on hold: the new policy's clock is on hold too, with the hour already paused.
    make.patch(f"incidents/{inc['id']}", {"impact": 1, "urgency": 1})
    during = make.clocks("incidents", inc["id"])["resolution"]
    assert during["policy"] == "Critical" and during["stage"] == "paused"
    assert during["paused_seconds"] == 3600 and during["elapsed_seconds"] == 3600
    clock.advance(hours=1)
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    after = make.clocks("incidents", inc["id"])["resolution"]
    assert after["paused_seconds"] == 2 * 3600 and after["elapsed_seconds"] == 3600
    assert at_utc(after["deadline"]) == T0 + 4 * H + 2 * H
    trail = make.sla_audit("incidents", inc["id"])
    assert trail.count(("sla_policy_changed", "resolution")) == 1
    assert trail.count(("sla_pause", "resolution")) == 1 and trail[-1] == ("sla_resume", "resolution")


def test_reopen_resumes_from_the_elapsed_time(make, clock):
    make.policy("Standard", resolution_target=8 * 60)
    inc = make.incident(state="in_progress")
    clock.advance(hours=2)
    make.patch(f"incidents/{inc['id']}", RESOLVE)
    met = make.clocks("incidents", inc["id"])["resolution"]
    assert met["stage"] == "met" and met["elapsed_seconds"] == 2 * 3600
    clock.advance(hours=5)
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    clock.advance(hours=1)
    reopened = make.clocks("incidents", inc["id"])["resolution"]
    assert reopened["stage"] == "in_progress" and reopened["stopped_at"] is None
    assert reopened["elapsed_seconds"] == 3 * 3600
    assert at_utc(reopened["deadline"]) == T0 + 7 * H + 6 * H
    trail = make.sla_audit("incidents", inc["id"])
    assert trail[-2:] == [("sla_stop", "resolution"), ("sla_resume", "resolution")]


def test_requester_reads_own_ticket_sla_only(make, client, users, clock):
    own = make.incident(as_="requester")
    other = make.incident(as_="requester2")
    assert set(make.clocks("incidents", own["number"], as_="requester")) == {"response", "resolution"}
    r = client.get(f"{API}/incidents/{other['number']}/sla", headers=users["requester"].headers)
    assert_error(r, 404)
    problem = make.problem()
    assert_error(client.get(f"{API}/problems/{problem['id']}/sla", headers=users["requester"].headers), 403)
    assert client.get(f"{API}/problems/{problem['id']}/sla", headers=users["data_scientist"].headers).json()
    assert_error(client.get(f"{API}/incidents/INC9999999/sla", headers=users["agent"].headers), 404)
    assert client.get(f"{API}/incidents/{own['id']}/sla").status_code == 401


def test_deleting_a_ticket_drops_its_clocks(make, client, users, clock, db_session):
    from itsm_ai.sla.models import TicketSla, TicketStateHistory

    inc = make.incident()
    make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    assert client.delete(f"{API}/incidents/{inc['id']}", headers=users["admin"].headers).status_code == 204
    for model in (TicketSla, TicketStateHistory):
        assert db_session.scalar(select(func.count()).select_from(model)) == 0
