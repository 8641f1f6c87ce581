"""The CSV importer on slices of the real data: mapping, messy text, ServiceNow logs, re-imports, bad rows."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.models import User
from itsm_ai.data.import_report import ImportFileError
from itsm_ai.data.import_source import read_table
from itsm_ai.data.importer import import_csv
from itsm_ai.database import get_session
from itsm_ai.group.models import Group
from itsm_ai.records import service as record_service
from itsm_ai.records.models import RecordCounter
from itsm_ai.ticket.models import Incident, IncidentCreate
from itsm_ai.ticket.service import INCIDENT

TOPICS_MAP = {"short_description": "Document", "category": "Topic_group"}
ASSIGNMENT_MAP = {
    "short_description": "Short description",
    "description": "Description",
    "caller": "Caller",
    "assignment_group": "Assignment group",
}


def _incidents(**where) -> list[Incident]:
    with get_session() as session:
        stmt = select(Incident).order_by(Incident.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Incident, name) == value)
        return list(session.scalars(stmt).unique())


def _audit(record_id: int) -> list[AuditEvent]:
    with get_session() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.record_type == "incident", AuditEvent.record_id == record_id)
                .order_by(AuditEvent.id)
            )
        )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_topics_slice_imports_with_numbers_audit_and_full_text(db, shared_data, write_slice, count):
    path = write_slice(shared_data / "it_tickets_topics.csv", 200)
    source = _rows(path)

    report = import_csv(path=path, mapping=TOPICS_MAP)

    assert report.ok and report.imported == 200 and report.skipped == 0
    assert (report.first_number, report.last_number) == ("INC0000001", "INC0000200")
    incidents = _incidents()
    assert len(incidents) == 200
    for inc, row in zip(incidents, source, strict=True):
        assert inc.category == (row["Topic_group"] or None)
        assert inc.state == "new" and inc.priority == 4 and inc.correlation_id.startswith("row-")
        assert len(inc.short_description) <= 255
        if len(row["Document"]) > 255:
            # Cut at a word boundary, the whole text kept in the description.
            assert inc.short_description.endswith("…") and inc.description == row["Document"]
        else:
            assert inc.short_description == row["Document"] and inc.description is None
    cut = sum(len(r["Document"]) > 255 for r in source)
    assert cut and report.notes["short_description cut to 255 characters (full text in description)"] == cut
    # One audit event per record, saying where it came from.
    assert count(AuditEvent) == 200
    event = _audit(incidents[0].id)[0]
    assert (event.action, event.source, event.actor_name) == ("import", "import", "system")
    assert json.loads(event.new_value) == {
        "number": "INC0000001",
        "correlation_id": incidents[0].correlation_id,
        "file": path.name,
        "line": 2,
    }
    with get_session() as session:
        counter = session.get(RecordCounter, "incident")
        assert (counter.next_number, counter.row_count) == (201, 200)


def test_reimport_creates_no_duplicates(db, shared_data, write_slice, count):
    path = write_slice(shared_data / "it_tickets_topics.csv", 120)
    first = import_csv(path=path, mapping=TOPICS_MAP)
    again = import_csv(path=path, mapping=TOPICS_MAP)

    assert first.imported == 120
    assert (again.imported, again.skipped, again.written) == (0, 120, False)
    assert count(Incident) == 120 and count(AuditEvent) == 120


def test_identical_rows_are_distinct_records_and_still_reimport_cleanly(db, tmp_path, count):
    path = tmp_path / "twins.csv"
    path.write_text("title,who\nprinter jammed,bob\nprinter jammed,bob\nmonitor flickers,bob\n")

    first = import_csv(path=path, mapping={"short_description": "title", "caller": "who"})
    again = import_csv(path=path, mapping={"short_description": "title", "caller": "who"})

    assert first.imported == 3 and (again.imported, again.skipped) == (0, 3)
    ids = [i.correlation_id for i in _incidents()]
    assert ids[1] == f"{ids[0]}-2"
    assert count(User) == 1


def test_imported_groups_count_in_the_group_list_total(db, tmp_path, count):
    from itsm_ai import database
    from itsm_ai.group.models import Group
    from itsm_ai.records import counters

    path = tmp_path / "teams.csv"
    path.write_text("title,team\nprinter jammed,Desk\nvpn down,Network\nmail slow,Desk\n")

    report = import_csv(path=path, mapping={"short_description": "title", "assignment_group": "team"})

    assert report.groups_created == 2
    with database.get_session() as session:
        assert counters.read(db_session=session, record_type="group")[0] == count(Group) == 2


def test_messy_ticket_assignment_rows(db, shared_data, write_slice):
    source = shared_data / "ticket_assignment.csv"
    all_rows = _rows(source)
    empty = [i for i, r in enumerate(all_rows) if not r["Short description"] or not r["Description"]]
    broken = [i for i, r in enumerate(all_rows) if "Ã" in r["Description"] or "æ" in r["Description"]]
    path = write_slice(source, 300, extra=empty + broken[:30])
    rows = _rows(path)

    report = import_csv(path=path, mapping=ASSIGNMENT_MAP)

    assert report.ok and report.imported == len(rows)
    assert report.users_created == len({r["Caller"] for r in rows})
    assert report.groups_created == len({r["Assignment group"] for r in rows})
    assert report.notes["text repaired (UTF-8 read as cp1252)"] > 0
    assert report.notes["short_description was empty: first line of the description used"] >= 1
    incidents = _incidents()
    texts = " ".join(i.description or "" for i in incidents)
    assert "Ã" not in texts and "â€" not in texts and "\r" not in texts
    assert any(ch in texts for ch in "äöüß") and any("\u4e00" <= ch <= "\u9fff" for ch in texts)
    for inc, row in zip(incidents, rows, strict=True):
        assert inc.short_description  # never empty: taken from the description when missing
        raw = row["Description"].replace("\r\n", "\n").strip()
        if raw.isascii():
            assert inc.description == (raw or None)
        else:  # repaired: each mis-decoded character sequence became one character
            assert 0 < len(inc.description) <= len(raw)
    with get_session() as session:
        group = session.scalar(select(Group).where(Group.name == rows[0]["Assignment group"]))
        caller = session.scalar(select(User).where(User.username == rows[0]["Caller"]))
        assert caller.role == "requester" and caller.hashed_password is None
        assert incidents[0].assignment_group_id == group.id and incidents[0].caller_id == caller.id


def test_servicenow_log_collapses_to_incidents_with_history(db, shared_data, head_lines, count):
    path = head_lines(shared_data / "servicenow_incident_event_log.csv", 301)
    events = _rows(path)
    numbers = list(dict.fromkeys(r["number"] for r in events))

    report = import_csv(path=path)

    assert report.source_format == "servicenow" and report.ok
    assert (report.rows, report.imported) == (300, len(numbers))
    [inc] = _incidents(correlation_id="INC0000045")
    assert inc.state == "closed" and inc.short_description == "Symptom 72 (Category 55 / Subcategory 170)"
    assert (inc.impact, inc.urgency, inc.priority) == (2, 2, 3)
    assert (inc.category, inc.subcategory, inc.location) == ("Category 55", "Subcategory 170", "Location 143")
    assert inc.opened_at == datetime(2016, 2, 29, 1, 16, tzinfo=UTC)
    assert inc.resolved_at == datetime(2016, 2, 29, 11, 29, tzinfo=UTC)
    assert inc.closed_at == datetime(2016, 3, 5, 12, 0, tzinfo=UTC)
    assert inc.resolution_code == "code 5"
    assert inc.extra["u_symptom"] == "Symptom 72" and inc.extra["made_sla"] is True
    assert inc.extra["event_rows"] == 4 and "cmdb_ci" not in inc.extra  # "?" is empty
    with get_session() as session:
        assert session.get(Group, inc.assignment_group_id).name == "Group 56"
        assert session.get(User, inc.caller_id).username == "Caller 2403"
    history = [(e.field, e.old_value, e.new_value, e.actor_name, e.at) for e in _audit(inc.id)]
    first_at = datetime(2016, 2, 29, 1, 23, tzinfo=UTC)
    assert history[:2] == [
        ("state", None, "new", "Updated by 21", first_at),
        ("assignment_group", None, "Group 56", "Updated by 21", first_at),
    ]
    assert ("state", "new", "resolved", "Updated by 642", datetime(2016, 2, 29, 8, 53, tzinfo=UTC)) in history
    assert (
        "state",
        "resolved",
        "closed",
        "Updated by 908",
        datetime(2016, 3, 5, 12, 0, tzinfo=UTC),
    ) in history
    audit = _audit(inc.id)
    assert audit[-1].action == "import" and all(e.source == "import" for e in audit)
    total = count(AuditEvent)

    again = import_csv(path=path)
    assert (again.imported, again.skipped) == (0, len(numbers)) and count(AuditEvent) == total


def _servicenow_file(tmp_path: Path, shared_data: Path, changes: list[dict[str, str]]) -> Path:
    """A small ServiceNow log: the first real event row, repeated with the given column changes."""
    with (shared_data / "servicenow_incident_event_log.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        template = next(reader)
        columns = reader.fieldnames
    path = tmp_path / "sn.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for change in changes:
            writer.writerow({**template, **change})
    return path


def test_servicenow_awaiting_states_and_bad_event_rows(db, shared_data, tmp_path, count):
    path = _servicenow_file(
        tmp_path,
        shared_data,
        [
            {"number": "INC9", "incident_state": "New", "sys_updated_at": "01-03-2016 10:00"},
            {"number": "INC9", "incident_state": "Awaiting Vendor", "sys_updated_at": "01-03-2016 11:00"},
            {"number": "INC8", "incident_state": "Active", "assigned_to": "Resolver 7", "impact": "1 - High"},
        ],
    )
    report = import_csv(path=path, source_format="servicenow")
    assert report.ok
    [inc9] = _incidents(correlation_id="INC9")
    assert (inc9.state, inc9.on_hold_reason, inc9.resolved_at, inc9.closed_at) == (
        "on_hold",
        "awaiting_vendor",
        None,
        None,
    )
    [inc8] = _incidents(correlation_id="INC8")
    assert (inc8.state, inc8.impact, inc8.priority) == ("in_progress", 1, 2)
    with get_session() as session:
        assert session.get(User, inc8.assigned_to_id).role == "agent"

    bad = _servicenow_file(
        tmp_path,
        shared_data,
        [
            {"number": "INC7", "incident_state": "Reopened??"},
            {"number": "INC7", "sys_updated_at": "yesterday"},
            {"number": "INC6", "impact": "7 - Extreme"},
        ],
    )
    before = count(Incident)
    report = import_csv(path=bad)
    assert [(p.line, p.field) for p in report.bad] == [
        (2, "incident_state"),
        (3, "sys_updated_at"),
        (4, "impact"),
    ]
    assert report.imported == 0 and count(Incident) == before


def test_cp1252_nul_and_control_characters_and_gzip(db, tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes(
        "title;body\nDrucker im 2. Stock defekt;M\u00fcller meldet: Papierstau\x00\x07\n".encode("cp1252")
    )
    report = import_csv(path=path, mapping={"short_description": "title", "description": "body"})
    assert report.ok and report.encoding == "cp1252"
    [inc] = _incidents()
    assert inc.description == "Müller meldet: Papierstau"
    assert report.notes["control characters removed"] == 1

    packed = tmp_path / "legacy.csv.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    again = import_csv(path=packed, mapping={"short_description": "title", "description": "body"})
    assert again.skipped == 1  # same content, same hash: the same ticket


def test_line_numbers_count_multiline_values(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('a,b\n1,"x\ny\nz"\n\n2,w\n')
    table = read_table(path)
    assert [line for line, _ in table.rows] == [2, 6]


def test_bad_rows_are_all_reported_and_nothing_is_written(db, shared_data, write_slice, tmp_path, count):
    good = write_slice(shared_data / "it_tickets_topics.csv", 20)
    assert import_csv(path=good, mapping=TOPICS_MAP).imported == 20
    users_before = count(User)
    path = tmp_path / "bad.csv"
    path.write_text(
        "title,impact,when,who,state\n"
        "fine,2,29-02-2016 01:16,new.person,new\n"
        "impact too big,7,,new.person,new\n"
        '"spans\ntwo lines",2,2016-13-45,new.person,new\n'
        "no such state,3,,new.person,exploded\n"
        ",3,,new.person,new\n"
    )
    mapping = {
        "short_description": "title",
        "impact": "impact",
        "opened_at": "when",
        "caller": "who",
        "state": "state",
    }

    report = import_csv(path=path, mapping=mapping)

    assert [(p.line, p.field) for p in report.bad] == [
        (3, "impact"),
        (4, "opened_at"),
        (6, "state"),
        (7, "short_description"),
    ]
    assert "less than or equal to 3" in report.bad[0].message and "'7'" in report.bad[0].message
    assert report.imported == 0 and not report.written
    assert count(Incident) == 20 and count(User) == users_before and count(AuditEvent) == 20

    skipped = import_csv(path=path, mapping=mapping, skip_bad=True)
    assert skipped.imported == 1 and skipped.bad_rows == 4 and count(Incident) == 21
    [fine] = _incidents(short_description="fine")
    assert fine.opened_at == datetime(2016, 2, 29, 1, 16, tzinfo=UTC)


def test_unknown_references_to_records_are_bad_rows(db, tmp_path):
    path = tmp_path / "refs.csv"
    path.write_text("title,problem,ci\nlinked,PRB0000099,\nwith ci,,Mail service\n")
    report = import_csv(
        path=path, mapping={"short_description": "title", "problem": "problem", "configuration_items": "ci"}
    )
    assert [(p.line, p.field, p.message) for p in report.bad] == [
        (2, "problem", "no problem 'PRB0000099'"),
        (3, "configuration_items", "no asset 'Mail service'"),
    ]


def test_dry_run_writes_nothing(db, shared_data, write_slice, count):
    path = write_slice(shared_data / "ticket_assignment.csv", 50)
    report = import_csv(path=path, mapping=ASSIGNMENT_MAP, dry_run=True)
    assert report.imported == 50 and report.users_created > 0 and not report.written
    assert count(Incident) == 0 and count(User) == 0


def test_file_level_errors_name_the_problem(db, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("title\nx\n")
    with pytest.raises(ImportFileError, match="no column 'Title'"):
        import_csv(path=path, mapping={"short_description": "Title"})
    with pytest.raises(ImportFileError, match="unknown field 'titel'"):
        import_csv(path=path, mapping={"titel": "title"})
    with pytest.raises(ImportFileError, match="not found"):
        import_csv(path=tmp_path / "missing.csv", mapping={"short_description": "title"})
    with pytest.raises(ImportFileError, match="short_description is required"):
        import_csv(path=path, mapping={"description": "title"})


def test_cli_import_set_constant_and_extra(db, shared_data, write_slice, cli):
    path = write_slice(shared_data / "it_tickets_topics.csv", 30)
    result = cli(
        "import", path, "--map", "short_description=Document", "--map", "category=Topic_group",
        "--map", "extra.topic=Topic_group", "--set", "state=closed", "--set", "impact=2 - Medium",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "imported 30 incident records" in result.output
    incidents = _incidents()
    assert all(i.state == "closed" and i.impact == 2 and i.closed_at and i.resolved_at for i in incidents)
    assert all(i.extra["topic"] == i.category for i in incidents if i.category)


def test_cli_bad_rows_exit_2_with_line_numbers(db, tmp_path, cli, count):
    path = tmp_path / "bad.csv"
    path.write_text("title,impact\nok,1\nnot ok,7\n")
    result = cli("import", path, "--map", "short_description=title", "--map", "impact=impact")
    assert result.exit_code == 2
    assert "line 3: impact:" in result.output and "nothing was written" in result.output
    assert count(Incident) == 0


def test_cli_input_errors_exit_2_naming_the_problem(db, tmp_path, cli):
    path = tmp_path / "t.csv"
    path.write_text("Document\nx\n")
    missing = cli("import", tmp_path / "nope.csv", "--map", "short_description=Document")
    assert missing.exit_code == 2 and "not found" in missing.output
    column = cli("import", path, "--map", "short_description=Documnt")
    assert column.exit_code == 2 and "'Documnt'" in column.output and "'Document'" in column.output
    field = cli("import", path, "--map", "short_descr=Document")
    assert field.exit_code == 2 and "unknown field 'short_descr'" in field.output
    shape = cli("import", path, "--map", "short_description")
    assert shape.exit_code == 2 and "FIELD=COLUMN" in shape.output
    kind = cli("import", path, "--type", "spaceship", "--map", "short_description=Document")
    assert kind.exit_code == 2 and "spaceship" in kind.output


def test_other_ticket_types_import(db, tmp_path):
    path = tmp_path / "changes.csv"
    path.write_text("title,risk,start\nPatch mail servers,moderate,2024-05-01T22:00:00Z\n")
    report = import_csv(
        path=path,
        record_type="change",
        mapping={"short_description": "title", "risk": "risk", "planned_start": "start"},
    )
    assert report.ok and report.first_number == "CHG0000001"
    with get_session() as session:
        from itsm_ai.ticket.models import Change

        change = session.scalar(select(Change))
        assert (change.state, change.risk, change.approval) == ("draft", "moderate", "not_requested")
        assert change.planned_start == datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_json_columns_and_service_requests(db, tmp_path):
    path = tmp_path / "requests.csv"
    path.write_text('title,vars,meta\nNew laptop,"{""model"": ""14-inch""}","{""source"": ""portal""}"\n,,\n')
    report = import_csv(
        path=path,
        record_type="requests",
        mapping={"short_description": "title", "variables": "vars", "extra": "meta"},
        constants={"extra.batch": "7"},
    )
    assert report.ok and report.imported == 2 and report.first_number == "REQ0000001"
    with get_session() as session:
        from itsm_ai.ticket.models import ServiceRequest

        first, second = session.scalars(select(ServiceRequest).order_by(ServiceRequest.id)).all()
        assert first.variables == {"model": "14-inch"} and first.extra == {"source": "portal", "batch": "7"}
        assert (first.state, first.quantity) == ("submitted", 1)
        assert second.short_description == "Service request"  # as the API names an untitled request


def test_ids_of_deleted_newest_records_are_not_reused(db, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("title\nprinter jammed\nmonitor flickers\n")
    import_csv(path=first, mapping={"short_description": "title"})
    newest = _incidents()[-1]
    with get_session() as session:
        obj = session.get(Incident, newest.id)
        record_service.delete(db_session=session, spec=INCIDENT, obj=obj, actor=None)
    second = tmp_path / "second.csv"
    second.write_text("title\nmouse broken\n")

    report = import_csv(path=second, mapping={"short_description": "title"})

    assert report.imported == 1
    imported = _incidents(short_description="mouse broken")[0]
    # A reused id would hand the deleted record's audit trail to the new one.
    assert imported.id > newest.id
    assert [e.action for e in _audit(imported.id)] == ["import"]
    # The id sequence moved past the imported ids, so a record created afterwards does not collide.
    with get_session() as session:
        data = IncidentCreate(short_description="Keyboard").model_dump()
        created = record_service.create(db_session=session, spec=INCIDENT, data=data, actor=None)
        assert created.id > imported.id
