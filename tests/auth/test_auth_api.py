"""Tokens, password storage and user management over the API."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.auth.models import User
from tests.api.conftest import API, assert_error
from tests.conftest import PASSWORD

TOKEN = f"{API}/auth/token"


@pytest.fixture
def app(db):
    from tests.api.conftest import make_app

    return make_app()


@pytest.fixture
def client(app):
    """A client that returns server errors as 500 responses."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _login(client, username: str, password: str):
    return client.post(TOKEN, data={"username": username, "password": password})


def _stored_user(username: str) -> User:
    with database.get_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        session.expunge(user)
        return user


def _token(claims: dict, key: str | None = None) -> str:
    from itsm_ai.auth.tokens import secret_key

    return jwt.encode(claims, key or secret_key(), algorithm="HS256")


def test_login_returns_a_working_bearer_token(client, users):
    r = _login(client, "agent", PASSWORD)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["username"] == "agent" and body["role"] == "agent"
    assert body["expires_in"] == 8 * 60 * 60
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    me = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "agent" and me.json()["role"] == "agent"


@pytest.mark.parametrize(
    ("username", "password"),
    [("agent", "wrong-password"), ("agent", ""), ("nobody", PASSWORD), ("AGENT", PASSWORD)],
)
def test_bad_credentials_get_401_with_error_shape(client, users, username, password):
    r = _login(client, username, password)
    if password == "":
        assert_error(r, 422, field="password")
        return
    err = assert_error(r, 401)
    assert err["message"] == "incorrect username or password"  # the same answer for unknown users
    assert r.headers["www-authenticate"] == "Bearer"


def test_missing_form_fields_get_422_naming_them(client, users):
    err = assert_error(client.post(TOKEN, data={}), 422)
    assert {f["field"] for f in err["fields"]} == {"username", "password"}


def test_inactive_user_cannot_log_in_and_their_token_stops_working(client, users):
    agent = users["agent"]
    target = client.get(f"{API}/users/agent", headers=users["admin"].headers).json()
    r = client.patch(
        f"{API}/users/agent",
        json={"version": target["version"], "active": False},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert_error(_login(client, "agent", PASSWORD), 401)
    assert_error(client.get(f"{API}/users/me", headers=agent.headers), 401)
    assert_error(client.get(f"{API}/incidents", headers=agent.headers), 401)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda: "garbage", id="garbage"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: _token({"sub": "2", "exp": _ts(-60)}), id="expired"),
        pytest.param(lambda: _token({"sub": "2", "exp": _ts(3600)}, key="x" * 40), id="wrong-key"),
        pytest.param(lambda: _token({"sub": "2"}), id="no-exp"),
        pytest.param(lambda: _token({"exp": _ts(3600)}), id="no-sub"),
        pytest.param(lambda: _token({"sub": "abc", "exp": _ts(3600)}), id="non-numeric-sub"),
        pytest.param(lambda: _token({"sub": "99999", "exp": _ts(3600)}), id="unknown-user"),
        pytest.param(
            lambda: jwt.encode({"sub": "2", "exp": _ts(3600)}, key=None, algorithm="none"), id="alg-none"
        ),
    ],
)
def test_bad_tokens_get_401(client, users, make_token):
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {make_token()}"})
    assert_error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_valid_hand_made_token_is_accepted(client, users):
    """The negative control for the bad-token cases: same signing, right claims -> 200."""
    agent_id = client.get(f"{API}/users/me", headers=users["agent"].headers).json()["id"]
    token = _token({"sub": str(agent_id), "exp": _ts(3600)})
    r = client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["username"] == "agent"


def _ts(seconds: int) -> int:
    return int((database.utcnow() + timedelta(seconds=seconds)).timestamp())


def test_no_token_gets_401(client, users):
    r = client.get(f"{API}/users/me")
    err = assert_error(r, 401)
    assert "bearer token" in err["message"]


def test_passwords_are_stored_as_argon2id_hashes(client, users):
    r = client.post(
        f"{API}/users",
        json={"username": "newbie", "password": "s3cret-passphrase", "role": "agent"},
        headers=users["admin"].headers,
    )
    assert r.status_code == 201
    assert "password" not in r.text and "hash" not in r.text
    stored = _stored_user("newbie")
    assert stored.hashed_password.startswith("$argon2id$")
    assert "s3cret-passphrase" not in stored.hashed_password
    # Same password, different salt.
    assert _stored_user("agent").hashed_password != _stored_user("agent2").hashed_password
    assert _login(client, "newbie", "s3cret-passphrase").status_code == 200
    # The audit trail never records the password.
    from itsm_ai.audit.models import AuditEvent

    with database.get_session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.record_type == "user", AuditEvent.record_id == stored.id)
        ).all()
        assert [e.action for e in events] == ["create"]
        assert "s3cret" not in (events[0].new_value or "")
        assert events[0].actor_name == "admin"


def test_admin_creates_user_and_duplicate_username_is_409(client, users):
    admin = users["admin"].headers
    body = {
        "username": "carol",
        "full_name": "Carol C",
        "email": "carol@example.com",
        "role": "agent",
        "password": "long-enough-1",
    }
    r = client.post(f"{API}/users", json=body, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in ("username", "full_name", "email", "role", "active", "version")} == {
        "username": "carol",
        "full_name": "Carol C",
        "email": "carol@example.com",
        "role": "agent",
        "active": True,
        "version": 1,
    }
    err = assert_error(client.post(f"{API}/users", json=body, headers=admin), 409, field="username")
    assert "carol" in err["message"]
    listed = client.get(f"{API}/users", params={"q": "carol"}, headers=admin).json()
    assert listed["total"] == 1
    assert client.get(f"{API}/users/{created['id']}", headers=admin).json()["username"] == "carol"
    assert client.get(f"{API}/users/carol", headers=admin).json()["id"] == created["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bad name!"}, "username"),
        ({"username": ""}, "username"),
        ({"username": "ok", "password": "short"}, "password"),
        ({"username": "ok", "email": "not-an-email"}, "email"),
        ({"username": "ok", "role": "superuser"}, "role"),
        ({}, "username"),
    ],
)
def test_invalid_user_input_gets_422(client, users, body, field):
    assert_error(client.post(f"{API}/users", json=body, headers=users["admin"].headers), 422, field=field)


def test_unknown_user_field_gets_422(client, users):
    r = client.post(
        f"{API}/users", json={"username": "dave", "is_superuser": True}, headers=users["admin"].headers
    )
    assert_error(r, 422, field="is_superuser")


def test_admin_updates_user_with_version_and_stale_version_is_409(client, users):
    admin = users["admin"].headers
    user = client.get(f"{API}/users/requester", headers=admin).json()
    r = client.patch(
        f"{API}/users/requester",
        json={"version": user["version"], "full_name": "Rita R", "role": "agent"},
        headers=admin,
    )
    assert r.status_code == 200
    assert (r.json()["full_name"], r.json()["role"], r.json()["version"]) == (
        "Rita R",
        "agent",
        user["version"] + 1,
    )
    stale = client.patch(
        f"{API}/users/requester", json={"version": user["version"], "full_name": "Other"}, headers=admin
    )
    assert_error(stale, 409, field="version")
    assert client.get(f"{API}/users/requester", headers=admin).json()["full_name"] == "Rita R"
    # The role change applies to the existing token at once (roles are read from the database).
    assert client.get(f"{API}/problems", headers=users["requester"].headers).status_code == 200


def test_password_change_replaces_the_old_password(client, users):
    admin = users["admin"].headers
    user = client.get(f"{API}/users/agent2", headers=admin).json()
    r = client.patch(
        f"{API}/users/agent2", json={"version": user["version"], "password": "brand-new-pass"}, headers=admin
    )
    assert r.status_code == 200
    assert_error(_login(client, "agent2", PASSWORD), 401)
    assert _login(client, "agent2", "brand-new-pass").status_code == 200
    assert _stored_user("agent2").hashed_password.startswith("$argon2id$")


@pytest.mark.parametrize("field", ["role", "active"])
def test_user_required_fields_cannot_be_nulled(client, users, field):
    admin = users["admin"].headers
    user = client.get(f"{API}/users/agent2", headers=admin).json()
    r = client.patch(f"{API}/users/agent2", json={"version": user["version"], field: None}, headers=admin)
    assert_error(r, 422, field=field)


def test_unknown_user_is_404(client, users):
    admin = users["admin"].headers
    assert_error(client.get(f"{API}/users/nobody", headers=admin), 404)
    assert_error(client.patch(f"{API}/users/nobody", json={"version": 1}, headers=admin), 404)


def test_users_me_for_every_role(client, users):
    for name, actor in users.items():
        body = client.get(f"{API}/users/me", headers=actor.headers).json()
        assert (body["username"], body["role"]) == (name, actor.role)
        assert "hashed_password" not in body and "password" not in body


def test_user_list_filters_by_role_and_pages(client, users):
    admin = users["admin"].headers
    body = client.get(f"{API}/users", params={"role": "requester"}, headers=admin).json()
    assert [u["username"] for u in body["items"]] == ["requester", "requester2"] and body["total"] == 2
    page = client.get(f"{API}/users", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert page["total"] == 6 and [u["username"] for u in page["items"]] == ["agent2", "data_scientist"]


def test_user_search_treats_wildcards_literally(client, users):
    body = client.get(f"{API}/users", params={"q": "_"}, headers=users["admin"].headers).json()
    assert [u["username"] for u in body["items"]] == ["data_scientist"]
