"""Idempotency-Key on creates: a retried request returns the first record instead of a duplicate."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error, store_actions

BODY = {"short_description": "Laptop will not boot", "impact": 2}


def _post(client, users, body, key, as_="agent", path="incidents"):
    headers = {**users[as_].headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post(f"{API}/{path}", json=body, headers=headers)


def _total(client, users, path="incidents") -> int:
    return client.get(f"{API}/{path}", headers=users["admin"].headers).json()["total"]


def test_same_key_same_body_replays_the_first_record(client, users):
    first = _post(client, users, BODY, "key-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = _post(client, users, BODY, "key-1")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["number"] == "INC0000001"
    assert _total(client, users) == 1
    audit = client.get(f"{API}/incidents/{first.json()['id']}/audit", headers=users["agent"].headers).json()
    assert store_actions(audit) == ["create"]


def test_equivalent_body_with_defaults_spelled_out_is_the_same_request(client, users):
    first = _post(client, users, BODY, "key-1")
    again = _post(client, users, {**BODY, "urgency": 3, "state": "new"}, "key-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_same_key_different_body_is_422_naming_the_header(client, users):
    assert _post(client, users, BODY, "key-1").status_code == 201
    r = _post(client, users, {**BODY, "impact": 1}, "key-1")
    err = assert_error(r, 422, field="Idempotency-Key")
    assert "different request body" in err["message"]
    assert _total(client, users) == 1


def test_keys_are_per_user(client, users):
    a = _post(client, users, BODY, "shared-key", as_="agent")
    b = _post(client, users, BODY, "shared-key", as_="agent2")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    # agent2 may reuse the key with another body too: it is agent2's key, not agent's.
    c = _post(client, users, {**BODY, "impact": 1}, "other", as_="agent")
    d = _post(client, users, {**BODY, "impact": 3}, "other", as_="agent2")
    assert (c.status_code, d.status_code) == (201, 201)
    assert _total(client, users) == 4


def test_keys_are_per_endpoint(client, users):
    inc = _post(client, users, {"short_description": "x"}, "k", path="incidents")
    prb = _post(client, users, {"short_description": "x"}, "k", path="problems")
    assert (inc.status_code, prb.status_code) == (201, 201)
    assert (inc.json()["number"], prb.json()["number"]) == ("INC0000001", "PRB0000001")


def test_requests_without_a_key_are_not_deduplicated(client, users):
    assert _post(client, users, BODY, None).status_code == 201
    assert _post(client, users, BODY, None).status_code == 201
    assert _total(client, users) == 2


def test_replay_for_a_requester_returns_their_own_ticket(client, users):
    first = _post(client, users, {"short_description": "help"}, "req-key", as_="requester")
    again = _post(client, users, {"short_description": "help"}, "req-key", as_="requester")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["caller"] == "requester" and again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_key_is_422(client, users, key):
    assert_error(_post(client, users, BODY, key), 422, field="Idempotency-Key")
    assert _total(client, users) == 0


def test_a_failed_create_does_not_burn_the_key(client, users):
    bad = _post(client, users, {**BODY, "caller": "ghost"}, "key-1")
    assert_error(bad, 422, field="caller")
    good = _post(client, users, {**BODY, "caller": "requester"}, "key-1")
    assert good.status_code == 201 and good.json()["number"] == "INC0000001"


def test_replay_after_the_record_changed_returns_it_as_it_is_now(client, users, make):
    first = _post(client, users, BODY, "key-1").json()
    make.patch(f"incidents/{first['id']}", {"urgency": 1})
    again = _post(client, users, BODY, "key-1")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["urgency"]) == (first["id"], 1)
    assert _total(client, users) == 1
