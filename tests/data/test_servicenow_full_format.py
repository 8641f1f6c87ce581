"""The full UCI ServiceNow log's formatting (bare ids, d/m/yyyy times, state -100) imports like the sample's,
with its state history and report facts."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

from sqlalchemy import select

HEADER = (
    "number,incident_state,active,reassignment_count,reopen_count,sys_mod_count,made_sla,caller_id,opened_by,"
    "opened_at,sys_created_by,sys_created_at,sys_updated_by,sys_updated_at,contact_type,location,category,"
    "subcategory,u_symptom,cmdb_ci,impact,urgency,priority,assignment_group,assigned_to,knowledge,"
    "u_priority_confirmation,notify,problem_id,rfc,vendor,caused_by,closed_code,resolved_by,resolved_at,closed_at"
)
ROWS = [
    # incident 0000045: New -> (no state recorded) -> Resolved -> Closed
    "0000045,New,true,0,0,0,true,2403,8,29/2/2016 01:16,6,29/2/2016 01:23,21,29/2/2016 01:23,Phone,143,55,"
    "170,72,?,2,2,3,56,?,true,false,Do Not Notify,?,?,?,?,5,149,29/2/2016 11:29,5/3/2016 12:00",
    "0000045,-100,true,0,0,1,true,2403,8,29/2/2016 01:16,6,29/2/2016 01:23,21,29/2/2016 02:00,Phone,143,55,"
    "170,72,?,2,2,3,56,?,true,false,Do Not Notify,?,?,?,?,5,149,29/2/2016 11:29,5/3/2016 12:00",
    "0000045,Resolved,true,0,0,2,true,2403,8,29/2/2016 01:16,6,29/2/2016 01:23,642,29/2/2016 11:29,Phone,143,"
    "55,170,72,?,2,2,3,56,89,true,false,Do Not Notify,?,0000404,?,?,5,149,29/2/2016 11:29,5/3/2016 12:00",
    "0000045,Closed,false,0,0,3,true,2403,8,29/2/2016 01:16,6,29/2/2016 01:23,908,5/3/2016 12:00,Phone,143,"
    "55,170,72,?,2,2,3,56,89,true,false,Do Not Notify,?,0000404,?,?,5,149,29/2/2016 11:29,5/3/2016 12:00",
    # incident 0000047: Active from its first row, reassigned once, still open
    "0000047,Active,true,1,0,1,false,2404,9,1/3/2016 08:00,6,1/3/2016 08:05,21,1/3/2016 08:05,Phone,143,40,"
    "171,73,?,1,2,2,70,31,true,false,Do Not Notify,2,?,?,?,?,?,?,?",
]


def test_full_log_format_imports_with_history_and_facts(db, tmp_path):
    from itsm_ai.data.importer import import_csv
    from itsm_ai.database import get_session
    from itsm_ai.reports.models import ReportTicket
    from itsm_ai.sla.models import TicketStateHistory
    from itsm_ai.ticket.models import Incident

    path = tmp_path / "full.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join([HEADER, *ROWS]) + "\n")
    report = import_csv(path=path)
    assert report.ok and report.imported == 2, report.summary()
    assert report.notes["incident_state: state -100 records no state: the previous state was kept"] == 1
    with get_session() as session:
        first, second = session.scalars(select(Incident).order_by(Incident.id)).all()
        assert first.correlation_id == "INC0000045" and second.correlation_id == "INC0000047"
        assert first.assignment_group_ref.name == "Group 56" and first.caller_ref.username == "Caller 2403"
        assert first.assigned_to_ref.username == "Resolver 89"
        assert first.category == "Category 55" and first.subcategory == "Subcategory 170"
        assert first.extra["u_symptom"] == "Symptom 72" and first.extra["rfc"] == "CHG0000404"
        assert first.extra["made_sla"] is True and first.resolution_code == "code 5"
        assert (first.state, first.priority) == ("closed", 3)
        assert first.resolved_at == datetime(2016, 2, 29, 11, 29, tzinfo=UTC)
        assert (second.state, second.reassignment_count, second.priority) == ("in_progress", 1, 2)
        history = session.execute(
            select(TicketStateHistory.record_id, TicketStateHistory.state, TicketStateHistory.at).order_by(
                TicketStateHistory.id
            )
        ).all()
        assert [(r, s) for r, s, _ in history] == [
            (first.id, "new"),
            (first.id, "resolved"),
            (first.id, "closed"),
            (second.id, "in_progress"),
        ]
        # The first state holds from the opening, not from the first row's save a few minutes later.
        assert history[0].at == datetime(2016, 2, 29, 1, 16, tzinfo=UTC)
        assert history[3].at == datetime(2016, 3, 1, 8, 0, tzinfo=UTC)
        facts = {f.record_id: f for f in session.scalars(select(ReportTicket))}
        assert facts[first.id].first_response_at == int(datetime(2016, 2, 29, 11, 29, tzinfo=UTC).timestamp())
        assert facts[first.id].source_made_sla is True and facts[second.id].source_made_sla is False
        assert facts[second.id].first_response_at == int(datetime(2016, 3, 1, 8, 0, tzinfo=UTC).timestamp())
        assert facts[second.id].ended_at is None and facts[first.id].closed_at is not None
