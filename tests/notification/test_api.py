"""The notification API: your list and preferences; admins edit, preview and reset templates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import API, assert_error

NOTE = f"{API}/notifications"
TPL = f"{API}/notification-templates"


@pytest.fixture
def factory(client, users):
    from tests.api.conftest import Factory

    return Factory(client, users)


def test_a_requester_sees_only_their_own_notifications_and_marks_them_read(client, users, factory):
    mine = factory.incident(as_="requester")
    factory.incident(as_="requester2")
    r = client.get(NOTE, headers=users["requester"].headers)
    assert r.status_code == 200
    [item] = r.json()
    assert item["number"] == mine["number"] and item["event"] == "created" and item["read_at"] is None
    assert item["status"] == "skipped" and item["skip_reason"] == "no e-mail address"
    other = client.get(NOTE, headers=users["requester2"].headers).json()[0]
    r = client.post(f"{NOTE}/{other['id']}/read", headers=users["requester"].headers)
    assert_error(r, 404)
    r = client.post(f"{NOTE}/{item['id']}/read", headers=users["requester"].headers)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    assert client.get(f"{NOTE}?unread=true", headers=users["requester"].headers).json() == []
    assert client.post(f"{NOTE}/read-all", headers=users["requester2"].headers).json() == {"marked": 1}


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "unread=maybe"])
def test_bad_list_queries_name_the_field(client, users, query):
    r = client.get(f"{NOTE}?{query}", headers=users["agent"].headers)
    assert_error(r, 422, query.split("=")[0])


def test_anonymous_gets_401(client):
    assert_error(client.get(NOTE), 401)
    assert_error(client.get(f"{NOTE}/preferences"), 401)


def test_preferences_round_trip_and_validation(client, users):
    h = users["requester"].headers
    assert client.get(f"{NOTE}/preferences", headers=h).json() == {"email_enabled": True, "muted_events": []}
    r = client.put(
        f"{NOTE}/preferences", json={"email_enabled": False, "muted_events": ["resolved"]}, headers=h
    )
    assert r.status_code == 200 and r.json() == {"email_enabled": False, "muted_events": ["resolved"]}
    assert_error(
        client.put(f"{NOTE}/preferences", json={"muted_events": ["nope"]}, headers=h), 422, "muted_events.0"
    )
    assert_error(client.put(f"{NOTE}/preferences", json={"email": False}, headers=h), 422, "email")
    assert (
        client.get(f"{NOTE}/preferences", headers=users["requester2"].headers).json()["email_enabled"] is True
    )


@pytest.mark.parametrize("role", ["agent", "requester", "data_scientist"])
def test_only_admins_touch_templates(client, users, role):
    assert_error(client.get(TPL, headers=users[role].headers), 403)
    body = {"subject": "x", "body": "y"}
    assert_error(client.put(f"{TPL}/created", json=body, headers=users[role].headers), 403)


def test_admin_edits_a_template_and_new_notifications_use_it(client, users, factory):
    h = users["admin"].headers
    listed = client.get(TPL, headers=h).json()
    assert {t["event"] for t in listed} >= {"created", "resolved", "public_reply", "approval_requested"}
    body = {
        "subject": "Ticket {{ ticket.number }} is in",
        "body": "Hi {{ recipient.name }}: {{ ticket.short_description }}",
    }
    r = client.put(f"{TPL}/created", json=body, headers=h)
    assert r.status_code == 200 and r.json()["customized"] and r.json()["version"] == 1
    ticket = factory.incident(as_="requester", short_description="Screen flickers")
    [note] = client.get(NOTE, headers=users["requester"].headers).json()
    assert (
        note["subject"] == f"[{ticket['number']}] Ticket {ticket['number']} is in"
    )  # the tag is always there
    assert note["body"] == "Hi requester: Screen flickers"
    stale = client.put(f"{TPL}/created", json={**body, "version": 7}, headers=h)
    assert_error(stale, 409, "version")
    reset = client.delete(f"{TPL}/created", headers=h)
    assert reset.status_code == 200 and not reset.json()["customized"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "{{ ticket.number ", "body": "ok"}, "subject"),
        ({"subject": "ok", "body": "line one\n{% if %}"}, "body"),
        ({"subject": "ok", "body": "{{ ticket.__class__.__mro__ }}"}, "body"),
        ({"subject": "", "body": "ok"}, "subject"),
        ({"subject": "ok"}, "body"),
    ],
)
def test_broken_or_unsafe_templates_are_refused_naming_the_part(client, users, body, field):
    r = client.put(f"{TPL}/created", json=body, headers=users["admin"].headers)
    err = assert_error(r, 422, field)
    if "{%" in body.get("body", ""):
        assert "line 2" in err["message"]


def test_unknown_event_is_404(client, users):
    assert_error(client.get(f"{TPL}/nope", headers=users["admin"].headers), 404)


def test_preview_against_a_ticket(client, users, factory):
    ticket = factory.incident(short_description="Mail is slow")
    r = client.post(
        f"{TPL}/resolved/preview", json={"number": ticket["number"]}, headers=users["admin"].headers
    )
    assert r.status_code == 200 and "Mail is slow" in r.json()["subject"]
    bad = client.post(f"{TPL}/resolved/preview", json={"number": "XYZ1"}, headers=users["admin"].headers)
    assert_error(bad, 422, "number")


def test_parallel_template_edits_never_500(client, users):
    h = users["admin"].headers
    client.put(f"{TPL}/resolved", json={"subject": "s0", "body": "b0"}, headers=h)

    def edit(i):
        return client.put(f"{TPL}/resolved", json={"subject": f"s{i}", "body": "b", "version": 1}, headers=h)

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(r.status_code for r in pool.map(edit, range(4)))
    assert codes.count(200) >= 1 and set(codes) <= {200, 409}
