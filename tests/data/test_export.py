"""Exports: the fast DataFrame matches the API representation, and CSV/Parquet files round-trip."""

from __future__ import annotations

import json

import pandas as pd

from itsm_ai.data import export
from itsm_ai.data.importer import import_csv
from itsm_ai.database import get_session


def _seed(shared_data, write_slice, head_lines) -> int:
    """60 topic tickets and the first 119 ServiceNow events; returns the number of incidents."""
    topics = write_slice(shared_data / "it_tickets_topics.csv", 60)
    imported = import_csv(
        path=topics, mapping={"short_description": "Document", "category": "Topic_group"}
    ).imported
    log = head_lines(shared_data / "servicenow_incident_event_log.csv", 120)
    return imported + import_csv(path=log).imported


def _linked_incident(users) -> None:
    """An incident with a problem, a duplicate and a configuration item, created through the services."""
    from itsm_ai.asset.models import AssetCreate
    from itsm_ai.asset.service import ASSET
    from itsm_ai.auth.models import User
    from itsm_ai.records import service as records
    from itsm_ai.ticket.models import IncidentCreate, ProblemCreate
    from itsm_ai.ticket.service import INCIDENT, PROBLEM

    with get_session() as session:
        agent = session.query(User).filter_by(username="agent").one()
        records.create(
            db_session=session, spec=ASSET, data=AssetCreate(name="Mail service").model_dump(), actor=agent
        )
        problem = records.create(
            db_session=session,
            spec=PROBLEM,
            data=ProblemCreate(short_description="Mail delays").model_dump(),
            actor=agent,
        )
        data = IncidentCreate(
            short_description="Mail is slow",
            caller="requester",
            assigned_to="agent",
            problem=problem.number,
            duplicate_of="INC0000001",
            configuration_items=["Mail service"],
            extra={"source": "test"},
        ).model_dump()
        records.create(db_session=session, spec=INCIDENT, data=data, actor=agent)


def test_fast_dataframe_equals_the_api_representation(shared_data, write_slice, head_lines, users):
    seeded = _seed(shared_data, write_slice, head_lines)
    _linked_incident(users)
    with get_session() as session:
        spec = export.spec_for("incident")
        slow = pd.DataFrame.from_records(
            list(export.iter_rows(db_session=session, spec=spec)), columns=list(spec.read_schema.model_fields)
        )
        for column in ("configuration_items", "extra"):
            slow[column] = slow[column].map(export._jsonish)
        fast = export.to_dataframe(db_session=session, record_type="incident")
    assert len(fast) == seeded + 1 and seeded > 60
    pd.testing.assert_frame_equal(fast, slow)
    linked = fast[fast["short_description"] == "Mail is slow"].iloc[0]
    assert (linked["problem"], linked["duplicate_of"], linked["caller"]) == (
        "PRB0000001",
        "INC0000001",
        "requester",
    )
    assert json.loads(linked["configuration_items"]) == ["Mail service"]
    assert str(fast["opened_at"].dtype).startswith("datetime64") and str(fast["opened_at"].dt.tz) == "UTC"


def test_load_dataframe_and_other_types(shared_data, write_slice, head_lines, db):
    seeded = _seed(shared_data, write_slice, head_lines)
    frame = export.load_dataframe("incident")
    assert len(frame) == seeded and frame["number"].is_unique
    assert set(frame["impact_label"]) <= {"1 - High", "2 - Medium", "3 - Low"}
    empty = export.load_dataframe("problem")
    assert empty.empty and "short_description" in empty.columns


def test_cli_export_csv_and_parquet_round_trip(shared_data, write_slice, head_lines, cli, tmp_path):
    seeded = _seed(shared_data, write_slice, head_lines)
    expected = export.load_dataframe("incident")

    parquet = tmp_path / "incidents.parquet"
    result = cli("export", "--type", "incident", "--format", "parquet", "--output", parquet)
    assert result.exit_code == 0, result.output
    assert f"exported {seeded} incident records" in result.output
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), expected, check_dtype=False)

    csv_path = tmp_path / "incidents.csv"
    result = cli("export", "--type", "incidents", "--format", "csv", "--output", csv_path)
    assert result.exit_code == 0, result.output
    back = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    assert list(back.columns) == list(expected.columns)
    assert back["number"].tolist() == expected["number"].tolist()
    assert back["short_description"].tolist() == expected["short_description"].tolist()

    bad = cli("export", "--type", "spaceship")
    assert bad.exit_code == 2 and "spaceship" in bad.output
    bad = cli("export", "--format", "xlsx")
    assert bad.exit_code == 2 and "xlsx" in bad.output
