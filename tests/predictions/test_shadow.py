"""Shadow runs of prediction models: a challenger scored beside CURRENT, its report, promote, rollback."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import API, assert_error
from tests.predictions.conftest import synthetic_snapshots


@pytest.fixture
def challengers(trained):
    """A second version of the breach and time-to-resolve models that learned the opposite signal."""
    from itsm_ai.predictions.enums import ModelName
    from itsm_ai.predictions.estimators import BreachRiskClassifier, TimeToResolveRegressor
    from itsm_ai.registry import store

    rows = synthetic_snapshots(seed=1)
    breach = BreachRiskClassifier(max_iter=30, min_samples_leaf=10, min_frequency=1).fit(
        rows, ~rows["breached"]
    )
    ttr = TimeToResolveRegressor(max_iter=30, min_samples_leaf=10, min_frequency=1).fit(
        rows, rows["hours_to_resolve"] * 50
    )
    for name, model in ((ModelName.breach, breach), (ModelName.ttr, ttr)):
        assert store.save(model, name=str(name), models_dir=trained) == "v0002"
    return trained


def _set(client, users, name, version, as_="data_scientist"):
    url = f"{API}/models/{name}/challenger"
    return client.put(url, json={"version": version}, headers=users[as_].headers)


def _report(client, users, name, as_="data_scientist", **params):
    return client.get(
        f"{API}/predictions/models/{name}/shadow-report", params=params, headers=users[as_].headers
    )


def _resolve(make, number):
    make.patch(
        f"incidents/{number}", {"state": "resolved", "resolution_code": "fixed", "resolution_notes": "done"}
    )


def test_without_a_challenger_nothing_is_shadowed(make, client, users, challengers):
    inc = make.incident(category="network")
    assert "shadow" not in make.get(f"incidents/{inc['number']}")["suggestions"]["predictions"]
    body = _report(client, users, "sla_breach").json()
    assert body["challenger_version"] is None and body["champion"]["tickets"] == 0


def test_challenger_scored_beside_champion_once_and_reported(make, client, users, challengers):
    for name in ("sla_breach", "time_to_resolve"):
        assert _set(client, users, name, "v0002").status_code == 200
    group = make.group("Network")
    numbers = [make.incident(category="network", assignment_group=group["name"])["number"] for _ in range(2)]
    numbers += [make.incident(category="software")["number"] for _ in range(2)]
    first = make.get(f"incidents/{numbers[0]}")["suggestions"]["predictions"]["shadow"]
    assert set(first) == {"sla_breach", "time_to_resolve"}
    breach = first["sla_breach"]
    assert breach["champion"]["version"] == "v0001" and breach["challenger"]["version"] == "v0002"
    assert breach["champion"]["value"] != breach["challenger"]["value"]
    assert first["time_to_resolve"]["challenger"]["value"] > first["time_to_resolve"]["champion"]["value"]
    # A later write recomputes the champion but keeps the first shadow scores (same point for both).
    make.patch(f"incidents/{numbers[0]}", {"impact": 1})
    assert make.get(f"incidents/{numbers[0]}")["suggestions"]["predictions"]["shadow"] == first
    scored = []
    for number in numbers:
        scored.append(make.get(f"incidents/{number}")["suggestions"]["predictions"]["shadow"])
        _resolve(make, number)
    scored = [entry["sla_breach"]["champion"]["value"] for entry in scored]
    ttr = _report(client, users, "time_to_resolve").json()
    assert (ttr["current_version"], ttr["challenger_version"]) == ("v0001", "v0002")
    assert ttr["champion"]["tickets"] == ttr["challenger"]["tickets"] == 4
    assert ttr["champion"]["versions"] == {"v0001": 4} and ttr["challenger"]["versions"] == {"v0002": 4}
    # Resolved within seconds: the model predicting 50 times longer is further off.
    assert ttr["challenger"]["mae_hours"] > ttr["champion"]["mae_hours"] >= 0
    breach = _report(client, users, "sla_breach").json()["champion"]
    # Judged on the SLA engine's clocks: all met within seconds, so no AUC (one class), a Brier all the same.
    assert (breach["tickets"], breach["breach_rate"], breach["auc"]) == (4, 0.0, None)
    assert breach["brier"] == pytest.approx(sum(v * v for v in scored) / 4)


def test_breach_shadow_judged_on_the_source_verdict(make, client, users, challengers):
    from sqlalchemy import delete

    from itsm_ai import database
    from itsm_ai.sla.models import TicketSla
    from itsm_ai.ticket.models import Incident

    _set(client, users, "sla_breach", "v0002")
    group = make.group("Network")
    risky = [make.incident(category="network", assignment_group=group["name"]) for _ in range(3)]
    calm = [make.incident(category="software") for _ in range(3)]
    for inc in risky + calm:
        _resolve(make, inc["number"])
    # As the importer leaves them: no SLA clock, the source's made_sla verdict in `extra`.
    with database.get_session() as s:
        for inc, made in [*((i, False) for i in risky), *((i, True) for i in calm)]:
            obj = s.get(Incident, inc["id"])
            obj.extra = {**(obj.extra or {}), "made_sla": made}
            clocks = (TicketSla.record_type == "incident", TicketSla.record_id == inc["id"])
            s.execute(delete(TicketSla).where(*clocks))
    body = _report(client, users, "sla_breach").json()
    champion, challenger = body["champion"], body["challenger"]
    assert champion["tickets"] == challenger["tickets"] == 6 and champion["breach_rate"] == 0.5
    # The champion learned that Network breaches, the challenger the opposite.
    assert champion["auc"] > challenger["auc"] and champion["brier"] < challenger["brier"]


def test_promote_and_rollback_switch_the_served_version(make, client, users, challengers):
    h = users["data_scientist"].headers
    promoted = client.post(f"{API}/models/sla_breach/promote", json={"version": "v0002"}, headers=h)
    assert promoted.status_code == 200
    inc = make.incident(category="network")
    assert make.get(f"predictions/incidents/{inc['number']}")["breach_version"] == "v0002"
    assert client.post(f"{API}/models/sla_breach/rollback", headers=h).status_code == 200
    refresh = f"{API}/predictions/incidents/{inc['number']}/refresh"
    assert client.post(refresh, headers=users["agent"].headers).json()["breach_version"] == "v0001"
    assert make.get(f"predictions/incidents/{inc['number']}")["breach_version"] == "v0001"


def test_shadow_report_access_and_bad_input(make, client, users, challengers):
    for who in ("requester", "agent"):
        assert_error(_report(client, users, "sla_breach", as_=who), 403)
    assert_error(client.get(f"{API}/predictions/models/sla_breach/shadow-report"), 401)
    assert _report(client, users, "sla_breach", as_="admin").status_code == 200
    assert_error(_report(client, users, "nope"), 422, "name")
    assert_error(_report(client, users, "volume_anomaly"), 422, "name")
    assert_error(_report(client, users, "sla_breach", limit=0), 422, "limit")
    assert_error(_report(client, users, "sla_breach", limit="x"), 422, "limit")


def test_parallel_creates_each_get_one_shadow_entry(make, client, users, challengers):
    _set(client, users, "time_to_resolve", "v0002")
    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(lambda _: make.incident(category="network")["number"], range(6)))
    for number in numbers:
        shadow = make.get(f"incidents/{number}")["suggestions"]["predictions"]["shadow"]
        assert set(shadow) == {"time_to_resolve"}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _resolve(make, n), numbers))
    body = _report(client, users, "time_to_resolve").json()
    assert body["champion"]["tickets"] == body["challenger"]["tickets"] == 6
