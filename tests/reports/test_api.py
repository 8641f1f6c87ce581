"""GET /api/v1/reports/{metric}: access, bad input, figures of real lifecycles, CSV and parallel requests."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from itsm_ai.reports.enums import Metric
from tests.api.conftest import API, assert_error
from tests.sla.conftest import T0, FakeClock, at_utc, iso

METRICS = tuple(m.value for m in Metric)
# From the fake SLA clock's start to after the real now: the store stamps resolutions with the real time.
RANGE = f"from={T0.date().isoformat()}&to={(datetime.now(UTC) + timedelta(days=1)).date().isoformat()}"
CANCELLED_AT = T0 + timedelta(days=3, hours=1)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    from itsm_ai.sla import service

    fake = FakeClock(T0)
    monkeypatch.setattr(service, "clock", fake)
    return fake


def report(client, users, metric: str, query: str = "", as_: str = "agent"):
    response = client.get(f"{API}/reports/{metric}?{RANGE}&tz=UTC&{query}", headers=users[as_].headers)
    assert response.status_code == 200, response.text
    return response.json()


def rows_by(body, key="period"):
    return {(r[key], r["group"]): r for r in body["items"]}


# ----------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("role", ["agent", "admin", "data_scientist"])
def test_staff_and_data_scientists_read_every_report(client, users, role):
    listing = client.get(f"{API}/reports", headers=users[role].headers)
    assert listing.status_code == 200
    assert [m["metric"] for m in listing.json()] == list(METRICS)
    for metric in METRICS:
        response = client.get(f"{API}/reports/{metric}", headers=users[role].headers)
        assert response.status_code == 200, (metric, response.text)


@pytest.mark.parametrize("path", ["/reports", "/reports/volume", "/reports/sla-compliance?format=csv"])
def test_requesters_get_403_and_anonymous_401(client, users, path):
    for requester in ("requester", "requester2"):
        assert_error(client.get(f"{API}{path}", headers=users[requester].headers), 403)
    assert_error(client.get(f"{API}{path}"), 401)
    assert_error(client.get(f"{API}{path}", headers={"Authorization": "Bearer not-a-token"}), 401)


# ----------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", None),
        ("from=yesterday", "from"),
        ("from=2016-02-30", "from"),
        ("to=2016-13-01", "to"),
        ("from=2016-03-01&to=2016-02-01", "to"),
        ("from=2016-03-01&to=2016-02-29", "to"),
        ("from=1900-01-01", "from"),
        ("interval=fortnight", "interval"),
        ("interval=day&from=1990-01-01&to=2010-01-01", "interval"),
        ("group_by=caller", "group_by"),
        ("group_by=intent", "group_by"),
        ("tz=Mars/Olympus", "tz"),
        ("type=ticket", "type"),
        ("group=No+such+group", "group"),
        ("priority=7", "priority"),
        ("priority=high", "priority"),
        ("assignee=nobody", "assignee"),
        ("state=dreaming", "state"),
        ("format=xlsx", "format"),
        ("from=" + "9" * 41, "from"),
        ("category=" + "x" * 121, "category"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, users, query, field):
    response = client.get(f"{API}/reports/volume?{query}", headers=users["agent"].headers)
    if field is None:
        assert response.status_code == 200
        return
    assert_error(response, 422, field)


def test_bad_metric_and_filters_a_report_does_not_take(client, users):
    headers = users["agent"].headers
    assert_error(client.get(f"{API}/reports/mttr", headers=headers), 422, "metric")
    assert_error(client.get(f"{API}/reports/reopen?type=service_request", headers=headers), 422, "type")
    assert_error(client.get(f"{API}/reports/reassignment?type=all", headers=headers), 422, "type")
    for key in ("type=incident", "group=x", "priority=1", "category=x", "assignee=agent", "state=new"):
        assert_error(client.get(f"{API}/reports/deflection?{key}", headers=headers), 422, key.split("=")[0])
    assert_error(client.get(f"{API}/reports/knowledge?group_by=group", headers=headers), 422, "group_by")
    assert client.get(f"{API}/reports/knowledge?group_by=article", headers=headers).status_code == 200


def test_bad_input_stores_nothing(client, users, make):
    make.incident(opened_at=iso(T0))
    before = client.get(f"{API}/reports/volume?{RANGE}&interval=all", headers=users["agent"].headers).json()
    client.get(f"{API}/reports/volume?{RANGE}&group=nope", headers=users["agent"].headers)
    after = client.get(f"{API}/reports/volume?{RANGE}&interval=all", headers=users["agent"].headers).json()
    assert before["items"] == after["items"]


# ----------------------------------------------------------------------------------------------- figures


def _lifecycle(make, clock) -> dict[str, dict]:
    """Five incidents with known lifecycles in two groups, driven through the API at fake instants."""
    net, desk = make.group("Network")["name"], make.group("Desk")["name"]
    made = {}
    made["fast"] = make.incident(opened_at=iso(T0), assignment_group=net, category="vpn", impact=1, urgency=1)
    made["slow"] = make.incident(opened_at=iso(T0 + timedelta(hours=1)), assignment_group=net, category="vpn")
    made["moved"] = make.incident(
        opened_at=iso(T0 + timedelta(days=1)), assignment_group=desk, category="mail"
    )
    made["open"] = make.incident(
        opened_at=iso(T0 + timedelta(days=2)), assignment_group=desk, category="mail"
    )
    made["dropped"] = make.incident(opened_at=iso(T0 + timedelta(days=3)), assignment_group=desk)
    clock.now = T0 + timedelta(minutes=10)
    make.patch(f"incidents/{made['fast']['number']}", {"state": "in_progress"})
    made["fast"] = make.patch(
        f"incidents/{made['fast']['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "restarted"},
    )
    clock.now = T0 + timedelta(days=1, hours=2)
    make.patch(f"incidents/{made['moved']['number']}", {"assignment_group": net})
    for name in ("slow", "moved"):
        make.patch(f"incidents/{made[name]['number']}", {"state": "in_progress"})
        made[name] = make.patch(
            f"incidents/{made[name]['number']}",
            {"state": "resolved", "resolution_code": "solved", "resolution_notes": "fixed"},
        )
    clock.now = T0 + timedelta(days=1, hours=3)
    make.patch(f"incidents/{made['slow']['number']}", {"state": "in_progress"})  # reopened
    made["slow"] = make.patch(
        f"incidents/{made['slow']['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "for good"},
    )
    clock.now = CANCELLED_AT
    made["dropped"] = make.patch(f"incidents/{made['dropped']['number']}", {"state": "cancelled"})
    return made


def test_lifecycle_figures(client, users, make, clock):
    made = _lifecycle(make, clock)
    volume = report(client, users, "volume", "interval=all")["items"][0]
    resolved = [m for m in made.values() if m["resolved_at"]]
    assert (volume["opened"], volume["resolved"], volume["closed"]) == (5, len(resolved), 0) == (5, 3, 0)

    by_group = rows_by(report(client, users, "volume", "interval=all&group_by=group"))
    # Grouped by the ticket's current group: "moved" counts in Network, where it is now.
    assert by_group[("all", "Network")]["opened"] == 3 and by_group[("all", "Desk")]["opened"] == 2
    assert by_group[("all", "Network")]["resolved"] == 3  # "moved" was resolved in Network

    times = report(client, users, "resolution-time", "interval=all")["items"][0]
    hours = sorted(
        (at_utc(m["resolved_at"]) - at_utc(m["opened_at"])).total_seconds() / 3600 for m in resolved
    )
    assert times["resolved"] == 3
    assert times["resolve_hours_median"] == pytest.approx(hours[1], abs=1 / 3600)
    assert times["resolve_hours_mean"] == pytest.approx(sum(hours) / 3, abs=1 / 3600)
    assert times["resolve_hours_p90"] == pytest.approx(hours[1] + 0.8 * (hours[2] - hours[1]), abs=1 / 3600)
    assert times["responded"] == 3  # the cancelled one never left intake
    assert times["resolved_business"] == 3  # every incident has the default (24x7) SLA clock

    reassigned = report(client, users, "reassignment", "interval=all")["items"][0]
    assert (
        reassigned["resolved"],
        reassigned["resolved_without_reassignment"],
        reassigned["reassignments"],
    ) == (
        3,
        2,
        1,
    )
    reopened = report(client, users, "reopen", "interval=all")["items"][0]
    assert (reopened["reopened"], reopened["reopens"]) == (1, 1)
    assert reopened["reopen_rate"] == pytest.approx(1 / 3)
    first = report(client, users, "first-contact-resolution", "interval=all")["items"][0]
    assert (first["first_contact"], first["first_contact_rate"]) == (1, pytest.approx(1 / 3))


def test_backlog_by_day(client, users, make, clock):
    made = _lifecycle(make, clock)
    days = report(client, users, "backlog", "interval=day")["items"]
    assert len(days) > 600
    by_day = {r["period"]: r for r in days}
    for day, row in by_day.items():
        end = datetime.fromisoformat(row["end"])
        expected = 0
        ages = []
        for m in made.values():
            opened = at_utc(m["opened_at"])
            # A cancellation is dated by the state history, which the SLA engine's (fake) clock stamps.
            ended = at_utc(m["resolved_at"]) if m["resolved_at"] else None
            ended = CANCELLED_AT if m["state"] == "cancelled" else ended
            if opened < end and (ended is None or ended >= end):
                expected += 1
                ages.append((end - opened).total_seconds())
        assert row["backlog"] == expected, day
        assert row["age_0_1d"] == sum(a <= 86_400 for a in ages), day
        assert row["age_1_3d"] == sum(86_400 < a <= 3 * 86_400 for a in ages), day
        assert (
            sum(row[c] for c in ("age_0_1d", "age_1_3d", "age_3_7d", "age_7_30d", "age_30d_plus")) == expected
        )
    assert by_day[T0.date().isoformat()]["opened"] == 2
    assert by_day[(T0 + timedelta(days=3)).date().isoformat()]["ended"] == 1  # the cancelled one


def test_sla_compliance_uses_the_engine_stages(client, users, make, clock):
    make.post("sla/policies", {"name": "Tight", "response_target": 60, "resolution_target": 120}, "admin")
    met = make.incident(opened_at=iso(T0))
    late = make.incident(opened_at=iso(T0))
    running = make.incident(opened_at=iso(T0))
    paused = make.incident(opened_at=iso(T0))
    clock.now = T0 + timedelta(minutes=30)
    make.patch(f"incidents/{met['number']}", {"state": "in_progress"})
    make.patch(
        f"incidents/{met['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "ok"},
    )
    make.patch(f"incidents/{paused['number']}", {"state": "on_hold", "on_hold_reason": "awaiting_caller"})
    clock.now = T0 + timedelta(hours=1, minutes=30)
    make.patch(f"incidents/{running['number']}", {"state": "in_progress"})
    row = report(client, users, "sla-compliance", "interval=all")["items"][0]
    assert (row["tickets"], row["met"], row["breached"], row["in_progress"], row["paused"]) == (4, 1, 0, 2, 1)
    # Responded within 60 minutes: met and paused; "running" responded after 90, "late" not at all yet.
    assert (row["response_met"], row["response_breached"], row["response_in_progress"]) == (2, 2, 0)
    # No write, no sweep: a running clock past its deadline is breached as the engine would say.
    clock.now = T0 + timedelta(hours=3)
    row = report(client, users, "sla-compliance", "interval=all")["items"][0]
    assert (row["met"], row["breached"], row["in_progress"], row["paused"]) == (1, 2, 0, 1)
    assert row["compliance"] == pytest.approx(1 / 3)
    make.patch(f"incidents/{late['number']}", {"state": "in_progress"})
    make.patch(
        f"incidents/{late['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "x"},
    )
    clocks = {c["kind"]: c for c in make.get(f"incidents/{late['number']}/sla")}
    assert clocks["resolution"]["stage"] == "breached"
    row = report(client, users, "sla-compliance", "interval=all")["items"][0]
    assert (row["met"], row["breached"]) == (1, 2)


def test_facts_follow_updates_and_deletes(client, users, make, clock):
    incident = make.incident(opened_at=iso(T0), category="old")
    assert (
        rows_by(report(client, users, "volume", "interval=all&group_by=category"))[("all", "old")]["opened"]
        == 1
    )
    make.patch(f"incidents/{incident['number']}", {"category": "new"})
    rows = rows_by(report(client, users, "volume", "interval=all&group_by=category"))
    assert set(rows) == {("all", "new")}
    response = client.delete(f"{API}/incidents/{incident['number']}", headers=users["admin"].headers)
    assert response.status_code == 204, response.text
    row = report(client, users, "volume", "interval=all")["items"][0]
    assert row["opened"] == 0


def test_filters_and_types(client, users, make, clock):
    net = make.group("Network")["name"]
    make.incident(opened_at=iso(T0), assignment_group=net, impact=1, urgency=1)
    make.incident(opened_at=iso(T0), impact=3, urgency=3, category="=SUM(A1)")
    make.request(opened_at=iso(T0))
    all_types = report(client, users, "volume", "interval=all&type=all")["items"][0]
    assert all_types["opened"] == 3
    assert report(client, users, "volume", "interval=all")["items"][0]["opened"] == 2  # incidents by default
    by_type = rows_by(
        report(client, users, "volume", "interval=all&type=incident,service_request&group_by=type")
    )
    assert by_type[("all", "service_request")]["opened"] == 1 and by_type[("all", "incident")]["opened"] == 2
    p1 = report(client, users, "volume", "interval=all&priority=1&priority=2")
    assert p1["items"][0]["opened"] == 1 and p1["filters"] == {"type": ["incident"], "priority": [1, 2]}
    grouped = report(client, users, "volume", f"interval=all&group={net}")
    assert grouped["items"][0]["opened"] == 1 and grouped["filters"]["group"] == [net]
    labels = rows_by(report(client, users, "volume", "interval=all&group_by=priority"))
    assert {g for _, g in labels} == {"1 - Critical", "4 - Low"}


def test_csv_export(client, users, make, clock):
    make.incident(opened_at=iso(T0), category='=HYPERLINK("http://x")')
    make.incident(opened_at=iso(T0), category="+cmd")
    response = client.get(
        f"{API}/reports/volume?{RANGE}&interval=month&group_by=category&format=csv",
        headers=users["agent"].headers,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["period", "start", "end", "group", "opened", "resolved", "closed"]
    groups = {r["group"] for r in rows}
    assert groups == {'\'=HYPERLINK("http://x")', "'+cmd"}
    assert sum(int(r["opened"]) for r in rows) == 2


def test_months_in_a_time_zone(client, users, make, clock):
    # 23:30 UTC on the last day of March is already April in Berlin.
    make.incident(opened_at=iso(datetime(2025, 3, 31, 23, 30, tzinfo=UTC)))
    query = "from=2025-03-01&to=2025-04-30"
    utc = client.get(f"{API}/reports/volume?{query}&tz=UTC", headers=users["agent"].headers).json()
    berlin = client.get(
        f"{API}/reports/volume?{query}&tz=Europe/Berlin", headers=users["agent"].headers
    ).json()
    assert [r["opened"] for r in utc["items"]] == [1, 0]
    assert [r["opened"] for r in berlin["items"]] == [0, 1]
    assert berlin["items"][1]["start"] == "2025-04-01T00:00:00+02:00"


def test_ai_report(client, users, make, db):
    from itsm_ai import database
    from itsm_ai.reports import flows

    tickets = [make.incident(opened_at=iso(T0 + timedelta(hours=i))) for i in range(4)]
    entries = [
        {"status": "suggested", "model": "category", "version": "v0001", "feedback": {"action": "accepted"}},
        {
            "status": "suggested",
            "model": "category",
            "version": "v0001",
            "feedback": {"action": "overridden"},
        },
        {"status": "abstained", "model": "category", "version": "v0001"},
        {"status": "applied", "model": "category", "version": "v0002"},
    ]
    with database.get_session() as session:
        for ticket, entry in zip(tickets, entries, strict=True):
            session.execute(
                text("UPDATE incidents SET suggestions = :s WHERE id = :id"),
                {"s": json.dumps({"fields": {"category": entry}}), "id": ticket["id"]},
            )
        flows.refresh(db_session=session, record_type="incident", ids=[t["id"] for t in tickets])
    rows = {(r["field"], r["model_version"]): r for r in report(client, users, "ai", "interval=all")["items"]}
    v1, v2 = rows[("category", "v0001")], rows[("category", "v0002")]
    assert (v1["tickets"], v1["suggested"], v1["abstained"], v1["accepted"], v1["overridden"]) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert v1["coverage"] == pytest.approx(2 / 3) and v1["accept_rate"] == 0.5 and v1["override_rate"] == 0.5
    assert (v2["tickets"], v2["applied"], v2["coverage"], v2["accept_rate"]) == (1, 1, 1.0, 0.0)


def test_deflection_and_knowledge(client, users, make, db):
    from itsm_ai import database
    from itsm_ai.auth.models import User
    from itsm_ai.chat.models import Conversation

    with database.get_session() as session:
        user = session.query(User).filter_by(username="requester").one()
        for outcome, intent in (
            ("deflected", "how_to"),
            ("deflected", "report_problem"),
            ("ticket_created", "report_problem"),
            ("handed_off", "talk_to_person"),
            ("abandoned", "how_to"),
            (None, "how_to"),
        ):
            session.add(
                Conversation(user_id=user.id, started_at=T0, updated_at=T0, intent=intent, outcome=outcome)
            )
    row = report(client, users, "deflection", "interval=all")["items"][0]
    assert (row["conversations"], row["deflected"], row["ticket_created"], row["open"]) == (6, 2, 1, 1)
    assert row["deflection_rate"] == pytest.approx(2 / 4)
    by_intent = rows_by(report(client, users, "deflection", "interval=all&group_by=intent"))
    assert by_intent[("all", "how_to")]["conversations"] == 3

    article = make.published_article(category="howto")
    for name, helpful in (("requester", True), ("requester2", False), ("agent", True)):
        response = client.post(
            f"{API}/knowledge/{article['id']}/feedback",
            json={"helpful": helpful},
            headers=users[name].headers,
        )
        assert response.status_code == 201, response.text
    client.get(f"{API}/knowledge/{article['id']}", headers=users["requester"].headers)
    now = datetime.now(UTC)
    query = f"from={(now - timedelta(days=1)).date()}&to={(now + timedelta(days=1)).date()}"
    whole = client.get(f"{API}/reports/knowledge?{query}&interval=all", headers=users["agent"].headers).json()
    row = whole["items"][0]
    assert (row["helpful"], row["not_helpful"], row["published"], row["views"]) == (2, 1, 1, 1)
    monthly = client.get(
        f"{API}/reports/knowledge?{query}&interval=day", headers=users["agent"].headers
    ).json()
    assert sum(r["helpful"] for r in monthly["items"]) == 2 and all(
        r["views"] is None for r in monthly["items"]
    )


def test_parallel_reports_while_tickets_are_written(client, users, make):
    for i in range(5):
        make.incident(opened_at=iso(T0 + timedelta(hours=i)))

    def read(metric: str) -> int:
        response = client.get(f"{API}/reports/{metric}?{RANGE}", headers=users["data_scientist"].headers)
        return response.status_code

    def write(i: int) -> int:
        response = client.post(
            f"{API}/incidents",
            json={"short_description": f"parallel {i}", "opened_at": iso(T0 + timedelta(days=1, minutes=i))},
            headers=users["agent"].headers,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = [pool.submit(read, METRICS[i % len(METRICS)]) for i in range(30)]
        writes = [pool.submit(write, i) for i in range(10)]
        assert [f.result() for f in reads] == [200] * 30
        assert [f.result() for f in writes] == [201] * 10
    total = report(client, users, "volume", "interval=all")["items"][0]["opened"]
    assert total == 15


def test_hourly_ai_counts_follow_every_write_and_match_the_facts(client, users, make, db):
    """The AI report over every ticket reads hourly counts; with a filter it reads the facts: same figures."""
    from itsm_ai import database
    from itsm_ai.reports import flows
    from itsm_ai.reports.models import ReportSuggestionHour

    group = make.group("Desk")["name"]
    tickets = [
        make.incident(opened_at=iso(T0 + timedelta(minutes=25 * i)), assignment_group=group) for i in range(6)
    ]
    statuses = ["suggested", "suggested", "applied", "abstained", "suggested", "unavailable"]
    feedback = [{"action": "accepted"}, {"action": "overridden"}, None, None, None, None]

    def store(i: int, entry: dict) -> None:
        with database.get_session() as session:
            session.execute(
                text("UPDATE incidents SET suggestions = :s WHERE id = :id"),
                {"s": json.dumps({"fields": {"category": entry}}), "id": tickets[i]["id"]},
            )
            flows.refresh(db_session=session, record_type="incident", ids=[tickets[i]["id"]])

    for i, (status, fb) in enumerate(zip(statuses, feedback, strict=True)):
        store(
            i, {"status": status, "model": "category", "version": "v0003", **({"feedback": fb} if fb else {})}
        )
    store(
        4,
        {"status": "suggested", "model": "category", "version": "v0003", "feedback": {"action": "accepted"}},
    )
    response = client.delete(f"{API}/incidents/{tickets[5]['number']}", headers=users["admin"].headers)
    assert response.status_code == 204

    def figures(query: str) -> dict:
        rows = report(client, users, "ai", query)["items"]
        return {
            (r["period"], r["model_version"]): {k: r[k] for k in ("tickets", "suggested", "accepted")}
            for r in rows
        }

    hourly = figures("interval=day")
    assert figures(f"interval=day&group={group}") == hourly  # the facts, filtered to every ticket there is
    assert hourly[(T0.date().isoformat(), "v0003")] == {"tickets": 5, "suggested": 4, "accepted": 2}
    with database.get_session() as session:
        counted = {
            (r.hour, r.status, r.feedback): r.tickets
            for r in session.query(ReportSuggestionHour).filter(ReportSuggestionHour.tickets != 0)
        }
        flows.rebuild_hours(db_session=session, record_types=["incident"])
    with database.get_session() as session:
        rebuilt = {(r.hour, r.status, r.feedback): r.tickets for r in session.query(ReportSuggestionHour)}
    assert counted == rebuilt


def test_daily_ai_counts_per_field_follow_every_write_and_match_the_facts(client, users, make, monkeypatch):
    """The AI report grouped or filtered by one ticket field reads the daily counts of that field: kept by
    every write (suggestion, feedback, reassignment, state change, deletion), equal to a rebuild and giving
    the facts' figures."""
    from itsm_ai import database
    from itsm_ai.reports import ai_metrics, flows
    from itsm_ai.reports.models import ReportSuggestionDay

    desk, net = make.group("Desk")["name"], make.group("Network")["name"]
    tickets = [
        make.incident(
            opened_at=iso(T0 + timedelta(hours=7 * i)),
            assignment_group=desk if i % 2 else net,
            category="vpn" if i % 3 else None,
        )
        for i in range(8)
    ]

    def store(i: int, entry: dict) -> None:
        with database.get_session() as session:
            session.execute(
                text("UPDATE incidents SET suggestions = :s WHERE id = :id"),
                {"s": json.dumps({"fields": {"category": entry, "priority": entry}}), "id": tickets[i]["id"]},
            )
            flows.refresh(db_session=session, record_type="incident", ids=[tickets[i]["id"]])

    statuses = [
        "suggested",
        "applied",
        "abstained",
        "suggested",
        "unavailable",
        "suggested",
        "applied",
        "off",
    ]
    for i, status in enumerate(statuses):
        fb = {"feedback": {"action": "accepted" if i % 2 else "overridden"}} if i < 4 else {}
        store(i, {"status": status, "model": "m", "version": f"v{i % 2}", **fb})
    store(5, {"status": "suggested", "model": "m", "version": "v1", "feedback": {"action": "accepted"}})
    number = tickets[3]["number"]
    version = client.get(f"{API}/incidents/{number}", headers=users["agent"].headers).json()["version"]
    moved = client.patch(
        f"{API}/incidents/{number}",
        json={"assignment_group": desk, "state": "in_progress", "version": version},
        headers=users["agent"].headers,
    )
    assert moved.status_code == 200, moved.text
    deleted = client.delete(f"{API}/incidents/{tickets[6]['number']}", headers=users["admin"].headers)
    assert deleted.status_code == 204

    def counts() -> dict:
        with database.get_session() as session:
            rows = session.query(ReportSuggestionDay).filter(ReportSuggestionDay.tickets != 0)
            return {
                (r.dimension, r.field, r.model_version, r.day, r.value, r.status, r.feedback): r.tickets
                for r in rows
            }

    kept = counts()
    assert kept and all(v > 0 for v in kept.values())
    with database.get_session() as session:
        flows.rebuild_days(db_session=session, record_types=["incident"])
    assert counts() == kept

    queries = [
        "interval=day&group_by=group",
        "interval=week&group_by=category",
        "interval=all&group_by=priority",
        "interval=day&group_by=state",
        f"interval=day&group={desk}",
        f"interval=day&group={desk}&group_by=group",
        "interval=day&group_by=type",
        "interval=day&category=vpn&group_by=category",
    ]
    sources = []
    real = ai_metrics._source
    monkeypatch.setattr(ai_metrics, "_source", lambda ctx: sources.append(real(ctx)[0]) or real(ctx))
    counted = [report(client, users, "ai", q)["items"] for q in queries]
    assert sources == ["days"] * 6 + ["hours", "days"]
    monkeypatch.setattr(ai_metrics, "_source", lambda ctx: ("facts", None))
    facts = [report(client, users, "ai", q)["items"] for q in queries]
    for query, got, expected in zip(queries, counted, facts, strict=True):
        assert got == expected and got, query


def test_names_with_commas_and_repeated_filters(client, users, make):
    emea, desk = make.group("Network, EMEA")["name"], make.group("Desk")["name"]
    make.incident(opened_at=iso(T0), assignment_group=emea, category="mail, calendar")
    make.incident(opened_at=iso(T0), assignment_group=desk, category="vpn")
    one = report(client, users, "volume", "interval=all&group=Network,+EMEA")
    assert one["items"][0]["opened"] == 1 and one["filters"]["group"] == [emea]
    both = report(client, users, "volume", "interval=all&group=Network,+EMEA&group=Desk")
    assert both["items"][0]["opened"] == 2
    assert report(client, users, "volume", "interval=all&category=mail,+calendar")["items"][0]["opened"] == 1


def test_daily_ticket_counts_follow_every_write_and_give_the_facts_figures(
    client, users, make, clock, monkeypatch
):
    """The volume report grouped or filtered by one ticket field reads the daily ticket counts of that field:
    kept by every write (opening, reassignment, resolution, closure, deletion), equal to a rebuild and giving
    the facts' figures; a range ending mid-day with a ticket event after its end walks the facts."""
    from itsm_ai import database
    from itsm_ai.reports import flows, ticket_metrics
    from itsm_ai.reports.models import ReportTicketDay

    made = _lifecycle(make, clock)
    clock.now = T0 + timedelta(days=4)
    closed = make.patch(f"incidents/{made['fast']['number']}", {"state": "closed"})
    assert closed["closed_at"]
    extra = make.incident(opened_at=iso(T0 + timedelta(days=5)), assignment_group="Desk", category="vpn")
    deleted = client.delete(f"{API}/incidents/{extra['number']}", headers=users["admin"].headers)
    assert deleted.status_code == 204
    make.incident(opened_at=iso(T0 + timedelta(days=2, hours=5)), category="vpn", impact=1, urgency=1)

    def counts() -> dict:
        with database.get_session() as session:
            return {
                (r.dimension, r.day, r.value): (r.opened, r.resolved, r.closed)
                for r in session.query(ReportTicketDay)
            }

    kept = counts()
    assert kept and all(any(v) and min(v) >= 0 for v in kept.values())
    assert sum(v[0] for (dim, *_), v in kept.items() if dim == "priority") == 6
    assert sum(v[2] for (dim, *_), v in kept.items() if dim == "state") == 1
    with database.get_session() as session:
        flows.rebuild_ticket_days(db_session=session, record_types=["incident"])
    assert counts() == kept

    queries = [
        "interval=day&group_by=group",
        "interval=week&group_by=category",
        "interval=all&group_by=priority",
        "interval=day&group_by=state",
        "interval=day&group=Desk",
        "interval=day&group=Desk&group_by=group",
        "interval=day&category=vpn&group_by=category",
        "interval=day&group_by=type",
        "interval=day&group_by=group&priority=1",
    ]
    used = []
    real = ticket_metrics._day_dimension
    monkeypatch.setattr(ticket_metrics, "_day_dimension", lambda ctx: used.append(real(ctx)) or used[-1])
    # The backlog reads what was opened per period from them too.
    runs = [(metric, q) for metric in ("volume", "backlog") for q in queries]
    counted = [report(client, users, metric, q)["items"] for metric, q in runs]
    dims = ["assignment_group_id", "category", "priority", "state", "assignment_group_id"]
    assert used == [*dims, "assignment_group_id", "category", None, None] * 2
    monkeypatch.setattr(ticket_metrics, "_day_dimension", lambda ctx: None)
    facts = [report(client, users, metric, q)["items"] for metric, q in runs]
    for run, got, expected in zip(runs, counted, facts, strict=True):
        assert got == expected and got, run

    # Ending mid-day: the day's counts would also hold the ticket opened after the end on that day (T0 + 2d
    # 5h), so the facts answer; ending a day later, no event follows the end within its day.
    ends = [T0 + timedelta(days=2, hours=1), T0 + timedelta(days=3, hours=1)]
    used.clear()
    monkeypatch.setattr(ticket_metrics, "_day_dimension", lambda ctx: used.append(real(ctx)) or used[-1])
    for end in ends:
        query = f"from={T0.date().isoformat()}&to={iso(end)}&tz=UTC&interval=day&group_by=group"
        response = client.get(f"{API}/reports/volume?{query}", headers=users["agent"].headers)
        assert response.status_code == 200, response.text
        rows = response.json()["items"]
        assert sum(r["opened"] for r in rows) == (4 if end == ends[0] else 6)
    assert used == [None, "assignment_group_id"]
