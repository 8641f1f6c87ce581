"""The caller confirms a resolution (the incident closes) or reopens it with a reason: only the caller or
the service desk, only from resolved, the version read guards against a concurrent change, bad input 4xx."""

from __future__ import annotations

import threading

import pytest

from tests.api.conftest import API, Factory, assert_error


@pytest.fixture
def make(client, users) -> Factory:
    return Factory(client, users)


def _resolved(make: Factory, caller: str = "requester") -> dict:
    inc = make.incident(caller=caller)
    return make.patch(
        f"incidents/{inc['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "Replaced the cable."},
    )


def _post(client, users, who: str, number: str, action: str, body: dict):
    return client.post(f"{API}/incidents/{number}/{action}", json=body, headers=users[who].headers)


def test_caller_confirms_and_the_incident_closes(client, users, make):
    inc = _resolved(make)
    r = _post(client, users, "requester", inc["number"], "confirm", {"version": inc["version"]})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"


def test_caller_reopens_with_a_reason_kept_as_a_public_comment(client, users, make):
    inc = _resolved(make)
    body = {"version": inc["version"], "comment": "Still down"}
    r = _post(client, users, "requester", inc["number"], "reopen", body)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "in_progress" and r.json()["reopen_count"] == 1
    comments = client.get(f"{API}/incidents/{inc['number']}/comments", headers=users["requester"].headers)
    assert [c["body"] for c in comments.json()] == ["Still down"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": 1}, "comment"),  # a reopen needs a reason
        ({"version": 1, "comment": "   "}, "comment"),
        ({"comment": "x"}, "version"),
        ({"version": "one", "comment": "x"}, "version"),
        ({"version": 2**40, "comment": "x"}, "version"),
        ({"version": 1, "comment": "x", "state": "closed"}, "state"),
        ({"version": 1, "comment": "x" * 10_001}, "comment"),
    ],
)
def test_reopen_bad_input_names_the_field(client, users, make, body, field):
    inc = _resolved(make)
    r = _post(client, users, "requester", inc["number"], "reopen", body)
    assert_error(r, 422, field)
    after = client.get(f"{API}/incidents/{inc['number']}", headers=users["agent"].headers).json()
    assert after["state"] == "resolved"


def test_only_a_resolved_incident_can_be_confirmed(client, users, make):
    inc = make.incident(caller="requester")
    r = _post(client, users, "requester", inc["number"], "confirm", {"version": inc["version"]})
    assert_error(r, 409, "state")


def test_another_requester_sees_404_and_a_data_scientist_403(client, users, make):
    inc = _resolved(make)
    r = _post(client, users, "requester2", inc["number"], "confirm", {"version": inc["version"]})
    assert_error(r, 404)
    r = _post(client, users, "data_scientist", inc["number"], "confirm", {"version": inc["version"]})
    assert_error(r, 403)
    r = _post(client, users, "agent", inc["number"], "confirm", {"version": inc["version"]})
    assert r.status_code == 200  # the service desk may close it on the caller's word
    assert_error(_post(client, users, "requester", "INC9999999", "confirm", {"version": 1}), 404)


def test_a_stale_version_is_refused_and_changes_nothing(client, users, make):
    inc = _resolved(make)
    r = _post(client, users, "requester", inc["number"], "confirm", {"version": inc["version"] - 1})
    assert_error(r, 409, "version")
    assert client.get(f"{API}/incidents/{inc['number']}", headers=users["agent"].headers).json()["state"] == (
        "resolved"
    )


def test_confirm_and_reopen_at_once_one_wins(client, users, make):
    inc = _resolved(make)
    results: dict[str, int] = {}

    def call(action: str, body: dict) -> None:
        results[action] = _post(client, users, "requester", inc["number"], action, body).status_code

    threads = [
        threading.Thread(target=call, args=("confirm", {"version": inc["version"]})),
        threading.Thread(target=call, args=("reopen", {"version": inc["version"], "comment": "no"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409], results
    final = client.get(f"{API}/incidents/{inc['number']}", headers=users["agent"].headers).json()
    assert final["state"] in ("closed", "in_progress") and final["version"] == inc["version"] + 1
