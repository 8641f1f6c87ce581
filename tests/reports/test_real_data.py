"""Reports on the real ServiceNow log (24,918 incidents, 141,712 events) against pandas on the raw file.

The log goes in through the project's importer; every figure checked here is recomputed from the raw CSV with
pandas, without any project code: the last row of each incident (by sys_updated_at, then file order) gives
its final values, as ServiceNow's export means them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA, clean_database

pytestmark = pytest.mark.slow

LOG = SHARED_DATA / "servicenow_incident_event_log_full.csv.gz"
FORMAT = "%d/%m/%Y %H:%M"
RANGE = {"start": "2016-02-01", "end": "2017-03-31"}


def _time(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.where(series != "?"), format=FORMAT, utc=True)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The raw log, one row per event, with parsed times and its file order."""
    if not LOG.is_file():
        pytest.skip(f"real data not found at {LOG}")
    frame = pd.read_csv(LOG, dtype=str, keep_default_na=False)
    frame["order"] = np.arange(len(frame))
    frame["updated"] = _time(frame["sys_updated_at"])
    return frame


@pytest.fixture(scope="module")
def final(raw) -> pd.DataFrame:
    """One row per incident: its last event, with opened, resolved (else closed) and closed times."""
    last = raw.sort_values(["number", "updated", "order"]).groupby("number").tail(1).copy()
    last["opened"] = _time(last["opened_at"])
    last["closed"] = _time(last["closed_at"])
    last["resolved"] = _time(last["resolved_at"]).fillna(last["closed"])
    for column in ("reassignment_count", "reopen_count"):
        last[column] = last[column].astype(int)
    return last


@pytest.fixture(scope="module")
def imported(engine):
    """The full log imported into an empty test database (once for the module); yields a session."""
    if not LOG.is_file():
        pytest.skip(f"real data not found at {LOG}")
    from itsm_ai import database
    from itsm_ai.data.importer import import_csv

    clean_database(engine)
    started = time.perf_counter()
    with database.get_session() as session:
        report = import_csv(path=LOG, db_session=session)
    seconds = time.perf_counter() - started
    print(f"\nimported {report.imported} incidents in {seconds:.1f} s")
    assert report.ok and report.imported == 24_918, report.summary()
    session = database.session_factory()()
    yield session
    session.close()
    clean_database(engine)


def _report(session, metric: str, **params):
    from itsm_ai.reports import service

    query = service.parse_query(db_session=session, metric=metric, tz="UTC", **{**RANGE, **params})
    items = service.run(db_session=session, query=query)["items"]
    return pd.DataFrame(items).set_index("period") if params.get("interval") != "all" else items[0]


def _months(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m")


def test_opened_resolved_closed_per_month(imported, final):
    report = _report(imported, "volume")
    for column, times in (("opened", "opened"), ("resolved", "resolved"), ("closed", "closed")):
        expected = _months(final[times]).value_counts()
        got = report[column][report[column] > 0]
        assert got.to_dict() == expected.to_dict(), column
    assert report["opened"].sum() == 24_918


def test_counts_per_state_and_month(imported, final):
    report = _report(imported, "volume", group_by="state")
    got = report.reset_index().pivot_table(index="period", columns="group", values="opened", aggfunc="sum")
    got = got[got.sum(axis=1) > 0].fillna(0).astype(int)
    states = final["incident_state"].str.lower()
    expected = pd.crosstab(_months(final["opened"]), states)
    assert got.to_dict() == expected.to_dict()


def test_time_to_resolve_per_month(imported, final):
    report = _report(imported, "resolution-time")
    hours = (final["resolved"] - final["opened"]).dt.total_seconds() / 3600
    by_month = hours.groupby(_months(final["resolved"]))
    for column, expected in (
        ("resolve_hours_median", by_month.median()),
        ("resolve_hours_mean", by_month.mean()),
        ("resolve_hours_p90", by_month.quantile(0.9)),
    ):
        got = report.loc[expected.index, column]
        np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=1e-9, err_msg=column)
    whole = _report(imported, "resolution-time", interval="all")
    assert whole["resolved"] == 24_918
    assert whole["resolve_hours_median"] == pytest.approx(hours.median(), rel=1e-9)
    print(f"\nmedian time to resolve: {whole['resolve_hours_median']:.2f} h (pandas {hours.median():.2f} h)")


def test_first_response_per_month(imported, raw, final):
    # The first time an incident's recorded state is not "New" (rows without a state keep the previous one);
    # an incident whose first row is already past New was so from its opening.
    events = raw.sort_values(["number", "updated", "order"]).copy()
    events["state"] = events["incident_state"].where(events["incident_state"] != "-100")
    events["state"] = events.groupby("number")["state"].ffill()
    events["state"] = events.groupby("number")["state"].bfill()
    events["first"] = ~events["number"].duplicated()
    left = events[events["state"] != "New"].groupby("number").first()
    opened = final.set_index("number")["opened"].reindex(left.index)
    responded = left["updated"].where(~left["first"], np.minimum(left["updated"], opened))
    hours = (responded - opened).dt.total_seconds() / 3600
    expected = hours.groupby(_months(responded)).median()
    report = _report(imported, "resolution-time")
    got = report.loc[expected.index, "response_hours_median"]
    np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=1e-9)
    assert report["responded"].sum() == len(left)


def test_reassignment_and_reopen_counts(imported, final):
    month = _months(final["resolved"])
    reassigned = _report(imported, "reassignment")
    grouped = final.groupby(month)
    expected = grouped["reassignment_count"].sum()
    assert reassigned.loc[expected.index, "reassignments"].tolist() == expected.tolist()
    without = grouped["reassignment_count"].apply(lambda s: int((s == 0).sum()))
    assert reassigned.loc[without.index, "resolved_without_reassignment"].tolist() == without.tolist()
    reopened = _report(imported, "reopen")
    expected = grouped["reopen_count"].apply(lambda s: int((s > 0).sum()))
    assert reopened.loc[expected.index, "reopened"].tolist() == expected.tolist()
    assert reopened["reopens"].sum() == final["reopen_count"].sum()
    first = grouped.apply(lambda g: int(((g.reassignment_count == 0) & (g.reopen_count == 0)).sum()))
    fcr = _report(imported, "first-contact-resolution")
    assert fcr.loc[first.index, "first_contact"].tolist() == first.tolist()
    whole = _report(imported, "reassignment", interval="all")
    share = float((final["reassignment_count"] == 0).mean())
    assert whole["share_without_reassignment"] == pytest.approx(share)
    print(f"\nresolved without reassignment: {share:.4f}; reopened: {(final.reopen_count > 0).mean():.4f}")


def test_sla_made_rate(imported, final):
    made = final["made_sla"] == "true"
    whole = _report(imported, "sla-compliance", interval="all")
    assert whole["tickets"] == 24_918
    assert whole["from_source"] == 24_918 and whole["no_sla"] == 0
    assert whole["met"] == int(made.sum())
    assert whole["breached"] == int((~made).sum())
    assert whole["compliance"] == pytest.approx(float(made.mean()))
    per_month = _report(imported, "sla-compliance")
    expected = made.groupby(_months(final["opened"])).mean()
    np.testing.assert_allclose(
        per_month.loc[expected.index, "compliance"].to_numpy(float), expected.to_numpy()
    )
    print(f"\nSLA made rate: {whole['compliance']:.4f} (pandas {made.mean():.4f})")


def test_sla_compliance_per_group(imported, final):
    from itsm_ai.reports import service

    query = service.parse_query(
        db_session=imported, metric="sla-compliance", interval="all", group_by="group", **RANGE
    )
    rows = {r["group"]: r for r in service.run(db_session=imported, query=query)["items"]}
    group = final["assignment_group"].where(final["assignment_group"] != "?")
    names = ("Group " + group).fillna("(none)")
    expected = (final["made_sla"] == "true").groupby(names).mean()
    assert len(rows) == len(expected)
    for name, rate in expected.items():
        assert rows[None if name == "(none)" else name]["compliance"] == pytest.approx(rate), name


def test_backlog_at_month_ends(imported, final):
    report = _report(imported, "backlog", start="2016-03-01", end="2016-12-31")
    ends = pd.date_range("2016-04-01", "2017-01-01", freq="MS", tz=UTC)
    for end, (_, row) in zip(ends, report.iterrows(), strict=True):
        open_at = (final["opened"] < end) & (final["resolved"] >= end)
        assert row["backlog"] == int(open_at.sum()), end
        age = (end - final.loc[open_at, "opened"]).dt.total_seconds()
        day = 86_400
        buckets = [
            (age <= day).sum(),
            ((age > day) & (age <= 3 * day)).sum(),
            ((age > 3 * day) & (age <= 7 * day)).sum(),
            ((age > 7 * day) & (age <= 30 * day)).sum(),
            (age > 30 * day).sum(),
        ]
        got = [row[c] for c in ("age_0_1d", "age_1_3d", "age_3_7d", "age_7_30d", "age_30d_plus")]
        assert got == [int(b) for b in buckets], end


@pytest.mark.parametrize("group_by", ["group", "assignee", "priority"])
def test_grouped_reports_agree_with_the_sql_grouping(imported, monkeypatch, group_by):
    # Walks grouped by an integer field tally in numpy (SQLite; PostgreSQL with quantiles); the SQL GROUP BY
    # must give the same rows.
    from itsm_ai.reports import queries, service

    def rows():
        out = {}
        for metric in (
            "volume",
            "backlog",
            "resolution-time",
            "sla-compliance",
            "reassignment",
            "reopen",
        ):
            query = service.parse_query(
                db_session=imported,
                metric=metric,
                group_by=group_by,
                tz="UTC",
                now=datetime(2017, 4, 1, tzinfo=UTC),
                **RANGE,
            )
            out[metric] = service.run(db_session=imported, query=query)["items"]
        return out

    numpy_rows = rows()
    monkeypatch.setattr(queries, "_numpy_path", lambda *args: False)
    sql_rows = rows()
    for metric, items in sql_rows.items():
        assert len(numpy_rows[metric]) == len(items) > 0, metric
        assert len(numpy_rows[metric]) == len(items) > 0, metric
        for got, expected in zip(numpy_rows[metric], items, strict=True):
            assert got.keys() == expected.keys(), metric
            for name, value in expected.items():
                # Counts and SQLite's figures are exact; PostgreSQL's avg (numeric) may round its last digit
                # differently from a float sum / n.
                exact = not isinstance(value, float)
                assert got[name] == (value if exact else pytest.approx(value, rel=1e-12)), (metric, name)


def test_reports_answer_in_the_same_way_over_the_api(imported, client_for_data):
    client, headers = client_for_data
    response = client.get(
        "/api/v1/reports/volume?from=2016-02-01&to=2017-03-31&interval=all", headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["opened"] == 24_918
    assert datetime.fromisoformat(response.json()["from"]).astimezone(UTC) == datetime(2016, 2, 1, tzinfo=UTC)


@pytest.fixture
def client_for_data(imported):
    """An app client and an agent's token on the imported data (the user is removed afterwards)."""
    from fastapi.testclient import TestClient

    from itsm_ai import database
    from itsm_ai.auth import service as auth_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.main import create_app
    from tests.conftest import PASSWORD

    with database.get_session() as session:
        auth_service.create(
            db_session=session,
            user_in=UserCreate(username="report-agent", role=Role.agent, password=PASSWORD),
        )
    with TestClient(create_app(start_worker=False)) as client:
        token = client.post("/api/v1/auth/token", data={"username": "report-agent", "password": PASSWORD})
        yield client, {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.parametrize("group_by", ["group", "category", "priority", "state"])
def test_ai_report_by_field_from_daily_counts_agrees_with_the_facts(
    imported, suggested, monkeypatch, group_by
):
    # The real incidents with triage entries written through the facts' incremental path: the AI report
    # grouped by a ticket field reads the daily counts of that field; the suggestion facts give the same rows.
    from itsm_ai.reports import ai_metrics, service

    def rows(**params):
        query = service.parse_query(
            db_session=imported,
            metric="ai",
            tz="UTC",
            now=datetime(2017, 4, 1, tzinfo=UTC),
            **RANGE,
            **params,
        )
        return service.run(db_session=imported, query=query)["items"]

    real = ai_metrics._source
    sources = []
    monkeypatch.setattr(ai_metrics, "_source", lambda ctx: sources.append(real(ctx)[0]) or real(ctx))
    counted = [rows(group_by=group_by), rows(group_by=group_by, interval="week")]
    assert sources == ["days", "days"]
    monkeypatch.setattr(ai_metrics, "_source", lambda ctx: ("facts", None))
    facts = [rows(group_by=group_by), rows(group_by=group_by, interval="week")]
    assert counted == facts
    assert sum(r["tickets"] for r in counted[0]) == 3 * 24_918 - suggested


@pytest.fixture(scope="module")
def suggested(imported) -> int:
    """Triage entries on every imported incident (three fields, outcomes by id), kept by `flows.refresh`
    as a write keeps them; the kept daily counts must equal a rebuild. Returns the fields left without one."""
    import json

    from sqlalchemy import text

    from itsm_ai.reports import flows
    from itsm_ai.reports.models import ReportSuggestionDay

    ids = list(imported.scalars(text("SELECT id FROM incidents ORDER BY id")))
    statuses = ("suggested", "applied", "abstained", "suggested", "unavailable")
    updates, missing = [], 0
    for i in ids:
        fields = {}
        for k, name in enumerate(("category", "priority", "assignment_group")):
            if (i + k) % 11 == 0:
                missing += 1
                continue
            entry = {"status": statuses[(i + k) % 5], "model": name, "version": f"v{i * 7 // len(ids) % 3}"}
            if i % 3:
                entry["feedback"] = {"action": "accepted" if i % 4 else "overridden"}
            fields[name] = entry
        updates.append({"s": json.dumps({"fields": fields}), "id": i})
    imported.execute(text("UPDATE incidents SET suggestions = :s WHERE id = :id"), updates)
    flows.refresh(db_session=imported, record_type="incident", ids=ids)
    imported.commit()

    def counts() -> dict:
        rows = imported.query(ReportSuggestionDay).filter(ReportSuggestionDay.tickets != 0)
        return {tuple(getattr(r, c) for c in flows.DAY_KEY): r.tickets for r in rows}

    kept = counts()
    flows.rebuild_days(db_session=imported, record_types=["incident"])
    imported.commit()
    assert counts() == kept
    return missing


@pytest.mark.parametrize("group_by", ["group", "priority", "category"])
def test_daily_ticket_counts_give_the_facts_figures(imported, monkeypatch, group_by):
    # Volume and backlog grouped by one ticket field read the daily ticket counts (back-filled by the
    # import's rebuild); the walks over the facts must give the same rows.
    from itsm_ai.reports import service, ticket_metrics

    used = []
    real = ticket_metrics._day_dimension
    monkeypatch.setattr(ticket_metrics, "_day_dimension", lambda ctx: used.append(real(ctx)) or used[-1])

    def rows(metric: str, interval: str):
        query = service.parse_query(
            db_session=imported,
            metric=metric,
            group_by=group_by,
            interval=interval,
            tz="UTC",
            now=datetime(2017, 4, 1, tzinfo=UTC),
            **RANGE,
        )
        return service.run(db_session=imported, query=query)["items"]

    runs = [(m, i) for m in ("volume", "backlog") for i in ("day", "month")]
    counted = [rows(*run) for run in runs]
    assert used and all(u is not None for u in used)
    monkeypatch.setattr(ticket_metrics, "_day_dimension", lambda ctx: None)
    for run, got in zip(runs, counted, strict=True):
        assert got == rows(*run) and got, run
