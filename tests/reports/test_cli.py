"""`itsm-ai report METRIC` and `itsm-ai db rebuild-report-facts`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

T = datetime(2016, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def cli(db):
    from itsm_ai.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def tickets(db):
    """Three incidents (one resolved) created through the store, with their facts."""
    from itsm_ai.database import get_session
    from itsm_ai.engine import install
    from itsm_ai.records import service as records
    from itsm_ai.ticket.models import IncidentCreate
    from itsm_ai.ticket.service import INCIDENT

    install()
    with get_session() as session:
        for i in range(3):
            data = IncidentCreate(short_description=f"t{i}", opened_at=T + timedelta(days=i)).model_dump()
            obj = records.create(db_session=session, spec=INCIDENT, data=data, actor=None)
        records.update(
            db_session=session,
            spec=INCIDENT,
            obj=obj,
            data={"version": obj.version, "state": "in_progress"},
            actor=None,
        )


def test_report_as_table_csv_and_json(cli, tickets):
    table = cli("report", "volume", "--from", "2016-03-01", "--to", "2016-03-31", "--interval", "all")
    assert table.exit_code == 0, table.output
    assert "volume" in table.output and "opened" in table.output
    as_csv = cli(
        "report",
        "volume",
        "--from",
        "2016-03-01",
        "--to",
        "2016-03-03",
        "--interval",
        "day",
        "--format",
        "csv",
    )
    assert as_csv.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["period"], r["opened"]) for r in rows] == [
        ("2016-03-01", "1"),
        ("2016-03-02", "1"),
        ("2016-03-03", "1"),
    ]
    as_json = cli(
        "report",
        "backlog",
        "--from",
        "2016-03-01",
        "--to",
        "2016-03-31",
        "--interval",
        "all",
        "--format",
        "json",
    )
    assert as_json.exit_code == 0
    body = json.loads(as_json.stdout)
    assert body["items"][0]["backlog"] == 3 and body["from"].startswith("2016-03-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "mttr"], "metric:"),
        (["report", "volume", "--from", "soon"], "from:"),
        (["report", "volume", "--group-by", "caller"], "group_by:"),
        (["report", "volume", "--priority", "9"], "priority:"),
        (["report", "volume", "--format", "xlsx"], "--format:"),
        (["db", "rebuild-report-facts", "--type", "ticket"], "--type:"),
    ],
)
def test_bad_input_exits_2_naming_the_option(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_rebuild_restores_missing_facts(cli, tickets):
    from itsm_ai.database import get_session
    from itsm_ai.reports.models import ReportTicket

    with get_session() as session:
        session.execute(delete(ReportTicket))
    result = cli("db", "rebuild-report-facts")
    assert result.exit_code == 0, result.output
    assert "rebuilt for 3 tickets" in result.output
    with get_session() as session:
        assert session.scalar(select(func.count()).select_from(ReportTicket)) == 3
        states = sorted(session.scalars(select(ReportTicket.state)))
    assert states == ["in_progress", "new", "new"]


def test_reconcile_adds_missing_and_drops_orphan_facts(tickets):
    from itsm_ai.database import get_session
    from itsm_ai.reports import flows
    from itsm_ai.reports.models import ReportTicket

    with get_session() as session:
        session.execute(delete(ReportTicket).where(ReportTicket.record_id == 1))
        session.add(ReportTicket(record_type="incident", record_id=999, opened_at=0, state="new", priority=4))
    with get_session() as session:
        assert flows.missing(db_session=session, record_type="incident") == [1]
        assert flows.reconcile(db_session=session) == 2
    with get_session() as session:
        assert sorted(session.scalars(select(ReportTicket.record_id))) == [1, 2, 3]
        assert flows.reconcile(db_session=session) == 0
