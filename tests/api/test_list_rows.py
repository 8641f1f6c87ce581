"""Lists read plain rows instead of record objects: every listed item must equal what a read of the same
record answers (references, labels, links, JSON fields, times), and record types whose representation needs
the object keep the object path."""

from __future__ import annotations

from sqlalchemy import update

from itsm_ai import database
from itsm_ai.base import spec_registry
from itsm_ai.records import rows
from tests.api.conftest import API


def _listed_equal_read(client, headers, path: str, expected: int) -> None:
    page = client.get(f"{API}/{path}", params={"limit": 100}, headers=headers)
    assert page.status_code == 200, page.text
    items = page.json()["items"] if isinstance(page.json(), dict) else page.json()
    assert len(items) == expected
    for item in items:
        read = client.get(f"{API}/{path}/{item['id']}", headers=headers)
        assert read.status_code == 200
        assert item == read.json()


def test_ticket_lists_equal_reads(client, users, make):
    from itsm_ai.ticket.models import Incident

    make.group("Desk")
    make.asset("web-01")
    make.asset("db-01")
    problem = make.problem(short_description="Root cause")
    first = make.incident(short_description="Original", caller="requester")
    make.incident(
        short_description="Full",
        description="all fields",
        impact=1,
        urgency=2,
        category="network",
        subcategory="vpn",
        assignment_group="Desk",
        assigned_to="agent",
        caller="requester",
        correlation_id="ext-9",
        location="Berlin",
        configuration_items=["web-01", "db-01"],
        extra={"source": "mail", "n": [1, 2]},
        problem=problem["number"],
        duplicate_of=first["number"],
    )
    with database.get_session() as session:
        session.execute(update(Incident).values(suggestions={"category": {"value": "network", "score": 0.9}}))
    make.change(short_description="Patch", configuration_items=["web-01"])
    make.request(short_description="Laptop", quantity=2)
    agent = users["agent"].headers
    _listed_equal_read(client, agent, "incidents", 2)
    _listed_equal_read(client, users["requester"].headers, "incidents", 2)  # suggestions hidden in both
    _listed_equal_read(client, agent, "problems", 1)
    _listed_equal_read(client, agent, "changes", 1)
    _listed_equal_read(client, agent, "requests", 1)
    _listed_equal_read(client, agent, "assets", 2)


def test_cursor_pages_walk_every_row_once(client, users, make):
    for i in range(7):
        make.incident(short_description=f"Row {i}", opened_at=f"2024-01-0{1 + i % 3}T09:00:00Z")
    seen, params = [], {"limit": 3}
    for _ in range(5):
        body = client.get(f"{API}/incidents", params=params, headers=users["agent"].headers).json()
        seen += [i["short_description"] for i in body["items"]]
        if not body["next_cursor"]:
            break
        params = {"limit": 3, "cursor": body["next_cursor"]}
    assert sorted(seen) == [f"Row {i}" for i in range(7)]


def test_which_record_types_read_rows():
    from itsm_ai.ticket.service import TICKET_SPECS

    for spec in TICKET_SPECS.values():
        assert rows.reader_for(spec) is not None, spec.record_type
    # A link without a bulk read (a group's members) keeps the object path, which knows the link.
    for spec in spec_registry.all_specs():
        if any(type(link).shown_for is rows.Link.shown_for for link in spec.links.values()):
            assert rows.reader_for(spec) is None, spec.record_type
