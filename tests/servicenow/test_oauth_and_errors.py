"""/oauth_token.do's refresh_token grant (revoked with the user's access tokens, never usable as a bearer
token), the one auth helper both APIs use, and the busy-database answer on ServiceNow's paths (503 +
Retry-After in ServiceNow's shape, as the native API decides it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from tests.conftest import PASSWORD
from tests.servicenow.conftest import assert_sn_error, basic

T = "/api/now/table"


def _password_grant(client, username: str, password: str = PASSWORD):
    return client.post(
        "/oauth_token.do",
        data={"grant_type": "password", "username": username, "password": password, "client_id": "x"},
    )


def _refresh(client, token: str):
    return client.post("/oauth_token.do", data={"grant_type": "refresh_token", "refresh_token": token})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_token_grant_gives_a_working_access_token(client, users):
    first = _password_grant(client, "agent")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["refresh_token"] and body["refresh_token"] != body["access_token"]
    again = _refresh(client, body["refresh_token"])
    assert again.status_code == 200, again.text
    renewed = again.json()
    assert renewed["token_type"] == "Bearer" and renewed["expires_in"] > 0 and renewed["refresh_token"]
    assert client.get(f"{T}/incident", headers=_bearer(renewed["access_token"])).status_code == 200
    # the refreshed token is the same user's: a requester stays a requester
    mine = _refresh(client, _password_grant(client, "requester").json()["refresh_token"]).json()
    me = client.get(f"{T}/sys_user", headers=_bearer(mine["access_token"])).json()["result"]
    assert [u["user_name"] for u in me] == ["requester"]


def test_token_kinds_do_not_mix(client, users):
    body = _password_grant(client, "agent").json()
    # a refresh token is no bearer token, on either API, and an access token refreshes nothing
    assert_sn_error(client.get(f"{T}/incident", headers=_bearer(body["refresh_token"])), 401)
    assert client.get("/api/v1/incidents", headers=_bearer(body["refresh_token"])).status_code == 401
    denied = _refresh(client, body["access_token"])
    assert denied.status_code == 401 and denied.json()["error"] == "access_denied"


def test_refresh_tokens_are_revoked_with_the_users_tokens(client, users):
    body = _password_grant(client, "agent").json()
    assert client.post("/api/v1/auth/logout", headers=_bearer(body["access_token"])).status_code == 204
    denied = _refresh(client, body["refresh_token"])
    assert denied.status_code == 401 and denied.json() == {
        "error": "access_denied",
        "error_description": "access_denied",
    }
    # a deactivated user refreshes nothing either
    body = _password_grant(client, "agent2").json()
    admin = basic("admin")
    agent2 = client.get(f"{T}/sys_user", params={"user_name": "agent2"}, headers=admin).json()["result"][0]
    r = client.patch(f"{T}/sys_user/{agent2['sys_id']}", json={"active": "false"}, headers=admin)
    assert r.status_code == 200, r.text
    assert _refresh(client, body["refresh_token"]).status_code == 401


@pytest.mark.parametrize(
    ("data", "status", "error", "mentions"),
    [
        ({"grant_type": "refresh_token"}, 400, "invalid_request", "refresh_token"),
        ({"grant_type": "refresh_token", "refresh_token": ""}, 400, "invalid_request", "refresh_token"),
        ({"grant_type": "refresh_token", "refresh_token": "not.a.jwt"}, 401, "access_denied", ""),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type", "grant_type"),
    ],
)
def test_token_request_bad_input(client, users, data, status, error, mentions):
    r = client.post("/oauth_token.do", data=data)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and mentions in r.json()["error_description"]


def test_missing_grant_type_is_a_servicenow_400(client, users):
    assert_sn_error(client.post("/oauth_token.do", data={}), 400, "grant_type")


def test_data_scientist_and_requester_refresh_only_their_own_access(client, users):
    for name in ("data_scientist", "requester"):
        token = _refresh(client, _password_grant(client, name).json()["refresh_token"]).json()["access_token"]
        listed = client.get(f"{T}/incident", headers=_bearer(token))
        assert listed.status_code in (200, 403)
        if listed.status_code == 200:
            assert listed.json()["result"] == []  # nothing of theirs: the native API's rules hold
    # the scientist's refreshed token still may not write
    token = _refresh(client, _password_grant(client, "data_scientist").json()["refresh_token"]).json()
    assert_sn_error(
        client.post(f"{T}/incident", json={"short_description": "x"}, headers=_bearer(token["access_token"])),
        403,
    )


def test_parallel_refreshes(client, users):
    refresh = _password_grant(client, "agent").json()["refresh_token"]
    lock = threading.Lock()  # TestClient is not thread-safe: serialise its calls, race the database work

    def one(_i: int):
        with lock:
            return _refresh(client, refresh)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(one, range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    tokens = {a.json()["access_token"] for a in answers}
    for token in list(tokens)[:3]:
        assert client.get(f"{T}/incident", headers=_bearer(token)).status_code == 200


def _raise(exc: Exception):
    def fail(**_kw):
        raise exc

    return fail


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("SELECT 1", {}, Exception("database is locked")),
        OperationalError("SELECT 1", {}, Exception("canceling statement due to lock timeout")),
        SATimeoutError("QueuePool limit reached"),
    ],
)
def test_busy_database_is_a_servicenow_503_with_retry_after(client, users, monkeypatch, exc):
    from itsm_ai.servicenow import service

    monkeypatch.setattr(service, "list_records", _raise(exc))
    r = client.get(f"{T}/incident", headers=basic("agent"))
    body = assert_sn_error(r, 503, "retry")
    assert int(r.headers["Retry-After"]) >= 1
    assert body["error"]["message"] == "Service Unavailable"
    # the native API decides the same for the same error
    from itsm_ai.errors import is_transient_database_error

    assert isinstance(exc, SATimeoutError) or is_transient_database_error(exc)


def test_other_database_errors_stay_500(client, users, monkeypatch):
    from itsm_ai.servicenow import service

    monkeypatch.setattr(
        service, "list_records", _raise(OperationalError("x", {}, Exception("no such column")))
    )
    assert client.get(f"{T}/incident", headers=basic("agent")).status_code == 500
