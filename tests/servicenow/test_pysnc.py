"""ServiceNow's own client, pysnc, against a live itsm-ai over HTTPS: GlideRecord queries, paging, get,
insert, update, delete, the batch API (update_multiple / delete_multiple), display values and errors."""

from __future__ import annotations

import pytest
from pysnc.exceptions import AuthenticationException, RequestException, RoleException

from itsm_ai import database

pytestmark = pytest.mark.slow


def _bulk_incidents(n: int, **values) -> None:
    """n incidents inserted directly (fast seeding; the API's own writes are what the tests exercise)."""
    from itsm_ai.database import utcnow
    from itsm_ai.records import counters
    from itsm_ai.ticket.models import Incident

    now = utcnow()
    with database.get_session() as session:
        for i in range(n):
            fields = {"impact": 3, "urgency": 3, "priority": 4, "state": "new", **values}
            title = f"bulk incident {i:04d}"
            session.add(Incident(number=f"INC9{i:06d}", short_description=title, opened_at=now, **fields))
        session.flush()
        # as after an import: the store's row count and write generation follow the bulk insert
        counters.recount(db_session=session, record_type="incident", model=Incident)


def test_insert_get_update_delete(snc):
    client = snc("agent")
    gr = client.GlideRecord("incident")
    gr.initialize()
    gr.short_description = "Email is down for the finance team"
    gr.impact = 1
    gr.urgency = 1
    gr.caller_id = "requester"
    gr.comments = "first customer-visible note"
    sys_id = gr.insert()
    assert sys_id and len(str(sys_id)) == 32
    assert gr.number.get_value().startswith("INC")
    assert gr.priority == "1"
    assert gr.state == "1"

    got = client.GlideRecord("incident")
    assert got.get(str(sys_id))
    assert got.short_description == "Email is down for the finance team"
    assert got.caller_id.get_display_value() == "requester"
    assert got.priority.get_display_value() == "1 - Critical"
    by_number = client.GlideRecord("incident")
    assert by_number.get("number", got.number.get_value())
    assert by_number.sys_id == got.sys_id

    got.state = 2
    got.assigned_to = "agent"
    assert got.update()
    again = client.GlideRecord("incident")
    assert again.get(str(sys_id))
    assert again.state == "2"
    assert again.state.get_display_value() == "In Progress"
    assert again.assigned_to.get_display_value() == "agent"
    assert again.sys_mod_count == "1"

    journal = client.GlideRecord("sys_journal_field")
    journal.add_query("element_id", str(sys_id))
    journal.query()
    assert [j.value.get_value() for j in journal] == ["first customer-visible note"]

    assert client.GlideRecord("incident").get("does-not-exist") is False
    admin = snc("admin").GlideRecord("incident")
    assert admin.get(str(sys_id))
    assert admin.delete()
    assert client.GlideRecord("incident").get(str(sys_id)) is False


def test_queries_and_order(snc):
    client = snc("agent")
    for title, impact in (("printer jam", 3), ("vpn down", 1), ("vpn slow", 2), ("disk full", 2)):
        gr = client.GlideRecord("incident")
        gr.initialize()
        gr.short_description = title
        gr.impact = impact
        gr.urgency = 2
        gr.insert()

    gr = client.GlideRecord("incident")
    gr.add_query("short_description", "LIKE", "vpn")
    gr.order_by("impact")
    gr.query()
    assert [r.short_description.get_value() for r in gr] == ["vpn down", "vpn slow"]

    gr = client.GlideRecord("incident")
    cond = gr.add_query("impact", "1")
    cond.add_or_condition("short_description", "STARTSWITH", "disk")
    gr.order_by_desc("short_description")
    gr.query()
    assert [r.short_description.get_value() for r in gr] == ["vpn down", "disk full"]

    gr = client.GlideRecord("incident")
    gr.add_encoded_query("impactIN2,3^short_descriptionNOTLIKEslow^ORDERBYshort_description")
    gr.query()
    assert [r.short_description.get_value() for r in gr] == ["disk full", "printer jam"]

    gr = client.GlideRecord("incident")
    gr.add_null_query("assigned_to")
    gr.add_active_query()
    gr.limit = 2
    gr.query()
    assert len(gr) == 4  # the total (X-Total-Count), as on ServiceNow
    assert sum(1 for _ in gr) == 2

    with pytest.raises(Exception) as info:
        bad = client.GlideRecord("incident")
        bad.add_encoded_query("no_such_fieldLIKEx")
        bad.query()
    assert "no_such_field" in str(info.value)


def test_paging_over_more_than_one_thousand(snc):
    _bulk_incidents(1050)
    gr = snc("agent").GlideRecord("incident", batch_size=400)
    gr.add_query("short_description", "STARTSWITH", "bulk incident")
    gr.query()
    seen = [r.short_description.get_value() for r in gr]
    assert len(gr) == 1050
    assert len(seen) == 1050 and len(set(seen)) == 1050


def test_update_multiple_and_delete_multiple_use_the_batch_api(snc):
    _bulk_incidents(12)
    gr = snc("agent").GlideRecord("incident")
    gr.add_query("short_description", "STARTSWITH", "bulk")
    gr.query()
    for record in gr:
        record.category = "network"
    assert gr.update_multiple()
    check = snc("agent").GlideRecord("incident")
    check.add_query("category", "network")
    check.query()
    assert len(check) == 12

    doomed = snc("admin").GlideRecord("incident")
    doomed.add_query("category", "network")
    doomed.query()
    assert doomed.delete_multiple()
    left = snc("agent").GlideRecord("incident")
    left.query()
    assert len(left) == 0


def test_errors(snc):
    with pytest.raises(AuthenticationException):
        snc("agent", "wrong password").GlideRecord("incident").query()
    agent = snc("agent").GlideRecord("incident")
    agent.initialize()
    agent.short_description = "someone else's laptop"
    agent.caller_id = "requester2"
    sys_id = str(agent.insert())

    mine = snc("requester").GlideRecord("incident")
    assert mine.get(sys_id) is False  # 404: a requester learns nothing about others' records
    mine.query()
    assert len(mine) == 0

    scientist = snc("data_scientist").GlideRecord("incident")
    assert scientist.get(sys_id)
    scientist.short_description = "changed by a data scientist"
    with pytest.raises(RoleException):
        scientist.update()  # 403: data scientists read tickets, never write them
    bad = snc("agent").GlideRecord("incident")
    bad.initialize()
    bad.impact = 1
    with pytest.raises(RequestException) as info:
        bad.insert()  # no short_description: 400 naming the field
    assert "short_description" in str(info.value)


def test_attachments(snc):
    client = snc("agent")
    gr = client.GlideRecord("incident")
    gr.initialize()
    gr.short_description = "screenshot attached"
    gr.caller_id = "requester"
    gr.insert()
    location = gr.add_attachment("error.txt", b"stack trace here\n", "text/plain")
    assert "/api/now/attachment/" in location

    files = gr.get_attachments()
    assert len(files) == 1
    for attachment in files:
        assert attachment.file_name == "error.txt"
        assert attachment.read() == b"stack trace here\n"

    # the requester whose ticket it is reads the file; another requester does not even see the ticket
    own = snc("requester").GlideRecord("incident")
    assert own.get(str(gr.sys_id))
    assert [a.read() for a in own.get_attachments()] == [b"stack trace here\n"]
    other = snc("requester2").Attachment("incident")
    other.add_query("table_sys_id", str(gr.sys_id))
    with pytest.raises(Exception) as info:
        other.query()
    assert "404" in str(info.value) or "No Record" in str(info.value)

    for attachment in files:
        attachment.delete()
    assert len(gr.get_attachments()) == 0


def test_display_values_and_round_trip(snc, instance):
    """Read everything out through pysnc, write it into a fresh table set, and compare field by field."""
    client = snc("agent")
    for title, impact in (("alpha", 1), ("beta", 2), ("gamma", 3)):
        gr = client.GlideRecord("incident")
        gr.initialize()
        gr.short_description = title
        gr.impact = impact
        gr.urgency = 2
        gr.assigned_to = "agent2"
        gr.category = "network"
        gr.insert()

    source = client.GlideRecord("incident")
    source.display_value = True
    source.query()
    # pysnc's iteration moves one cursor over the results: read each record's values as it goes
    shown = {
        r.short_description.get_value(): (r.priority.get_value(), r.assigned_to.get_value()) for r in source
    }
    assert shown["alpha"] == ("2 - High", "agent2")
    assert shown["gamma"] == ("4 - Low", "agent2")

    copies = []
    source = client.GlideRecord("incident")
    source.query()
    for record in source:
        target = client.GlideRecord("incident")
        target.initialize()
        for name in ("short_description", "impact", "urgency", "category", "assigned_to"):
            target.set_value(name, record.get_value(name))
        target.short_description = "copy of " + record.short_description.get_value()
        target.insert()
        copies.append((record.sys_id.get_value(), target.sys_id.get_value()))

    for original_id, copy_id in copies:
        a, b = client.GlideRecord("incident"), client.GlideRecord("incident")
        assert a.get(original_id) and b.get(copy_id)
        for name in ("impact", "urgency", "priority", "category", "assigned_to", "state"):
            assert a.get_value(name) == b.get_value(name), name
        assert b.short_description.get_value() == "copy of " + a.short_description.get_value()


def test_oauth_password_grant(instance, snc):  # snc: trusts the test CA
    """pysnc's OAuth flow gets a token from /oauth_token.do and reads with it; a wrong password is refused."""
    import pysnc
    from pysnc.auth import ServiceNowPasswordGrantFlow

    from tests.conftest import PASSWORD

    flow = ServiceNowPasswordGrantFlow("agent", PASSWORD, "integration", "client-secret")
    client = pysnc.ServiceNowClient(instance, flow)
    gr = client.GlideRecord("sys_user")
    gr.add_query("user_name", "agent")
    gr.query()
    assert len(gr) == 1 and gr.next() and gr.user_name == "agent"
    with pytest.raises(Exception):  # noqa: B017 - oauthlib raises its own error types
        pysnc.ServiceNowClient(instance, ServiceNowPasswordGrantFlow("agent", "wrong", "integration", "x"))
