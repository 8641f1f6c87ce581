"""Login hardening (issue 13, defect 5): throttle and lockout, equal work for unknown users, token revocation,
security headers and the session cookie's Secure flag."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import API, assert_error
from tests.conftest import PASSWORD

TOKEN = f"{API}/auth/token"


@pytest.fixture
def app(db):
    from tests.api.conftest import make_app

    return make_app()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def from_address(app):
    """Factory: a client whose requests come from the given address."""
    from fastapi.testclient import TestClient

    clients = []

    def make(address: str):
        c = TestClient(app, raise_server_exceptions=False, client=(address, 40000))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def limits(monkeypatch):
    from itsm_ai.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "login_max_failures_per_account", 3)
    monkeypatch.setattr(settings, "login_max_failures_per_address", 6)
    monkeypatch.setattr(settings, "login_window_seconds", 600)
    return settings


def _login(client, username, password):
    return client.post(TOKEN, data={"username": username, "password": password})


def test_guessing_locks_the_account_then_the_right_password_is_refused(users, from_address, limits):
    """Regression: 50 wrong passwords in a row, then the right one worked."""
    attacker = from_address("203.0.113.7")
    for _ in range(3):
        assert _login(attacker, "agent", "wrong-password").status_code == 401
    r = _login(attacker, "agent", PASSWORD)
    assert r.status_code == 429, r.text
    assert 0 < int(r.headers["Retry-After"]) <= 601
    assert r.json()["error"]["code"] == "too_many_requests"
    # Unknown accounts are throttled alike (the answer does not tell whether the user exists).
    other = from_address("203.0.113.8")
    for _ in range(3):
        assert _login(other, "nobody", "wrong-password").status_code == 401
    assert _login(other, "nobody", "wrong-password").status_code == 429


def test_lock_ends_with_the_window(users, from_address, limits, monkeypatch):
    from datetime import timedelta

    from itsm_ai.auth import service

    attacker = from_address("203.0.113.7")
    for _ in range(5):
        _login(attacker, "agent", "wrong-password")
    assert _login(attacker, "agent", PASSWORD).status_code == 429
    later = service.utcnow() + timedelta(seconds=601)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    assert _login(attacker, "agent", PASSWORD).status_code == 200


def test_admin_is_not_locked_out_from_a_known_address_and_can_be_unlocked(
    users, client, from_address, limits
):
    attacker = from_address("203.0.113.7")
    for _ in range(3):
        _login(attacker, "admin", "wrong-password")
    assert _login(attacker, "admin", PASSWORD).status_code == 429
    # The admin logs in from the address they used before (the users fixture logged in from "testclient").
    assert _login(client, "admin", PASSWORD).status_code == 200
    # A success resets the account's count: the attacker gets a fresh, small allowance, not a lock for ever.
    for _ in range(3):
        _login(attacker, "agent", "wrong-password")
    assert _login(attacker, "agent", PASSWORD).status_code == 429
    new_place = from_address("198.51.100.20")
    assert _login(new_place, "agent", PASSWORD).status_code == 429
    r = client.post(f"{API}/users/agent/unlock", headers=users["admin"].headers)
    assert r.status_code == 204, r.text
    assert _login(new_place, "agent", PASSWORD).status_code == 200
    audit = client.get(f"{API}/users/agent", headers=users["admin"].headers)
    assert audit.status_code == 200


def test_one_address_guessing_many_accounts_is_throttled(users, from_address, limits):
    attacker = from_address("203.0.113.9")
    for name in ("agent", "agent2", "requester", "requester2", "data_scientist", "nobody"):
        assert _login(attacker, name, "wrong-password").status_code == 401
    assert _login(attacker, "admin", PASSWORD).status_code == 429
    assert _login(from_address("198.51.100.1"), "admin", PASSWORD).status_code == 200


def test_unlock_endpoint_access_and_bad_input(users, client):
    for role in ("agent", "requester", "data_scientist"):
        r = client.post(f"{API}/users/requester/unlock", headers=users[role].headers)
        assert r.status_code == 403, (role, r.text)
    assert_error(client.post(f"{API}/users/nobody/unlock", headers=users["admin"].headers), 404)
    assert client.post(f"{API}/users/requester/unlock").status_code == 401


def test_parallel_unlocks_and_logins_never_fail(users, client):
    def unlock(_):
        return client.post(f"{API}/users/agent/unlock", headers=users["admin"].headers).status_code

    def login(_):
        return _login(client, "agent", PASSWORD).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(unlock, range(8))) + list(pool.map(login, range(8)))
    assert set(codes) <= {200, 204}, codes


def test_unknown_users_verify_a_hash_like_known_ones(users, client, monkeypatch):
    """Regression: unknown users answered ~5x faster. Counted, not timed: one argon2 verify per attempt."""
    from argon2 import PasswordHasher

    calls = []
    original = PasswordHasher.verify

    def counting(self, hashed, password):
        calls.append(hashed)
        return original(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    for username in ("agent", "nobody", "agent", "ghost"):
        calls.clear()
        assert _login(client, username, "wrong-password").status_code == 401
        assert len(calls) == 1, username
        assert calls[0].startswith("$argon2id$")


def test_logout_revokes_the_token(users, client):
    token = _login(client, "agent", PASSWORD).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/users/me", headers=h).status_code == 200
    assert client.post(f"{API}/auth/logout", headers=h).status_code == 204
    assert_error(client.get(f"{API}/users/me", headers=h), 401)
    assert client.post(f"{API}/auth/logout", headers=h).status_code == 401
    fresh = _login(client, "agent", PASSWORD).json()["access_token"]
    assert client.get(f"{API}/users/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_password_reset_revokes_existing_tokens(users, client):
    token = _login(client, "requester", PASSWORD).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    target = client.get(f"{API}/users/requester", headers=users["admin"].headers).json()
    r = client.patch(
        f"{API}/users/requester",
        json={"version": target["version"], "password": "a-new-password-1"},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200, r.text
    assert_error(client.get(f"{API}/users/me", headers=h), 401)
    assert _login(client, "requester", "a-new-password-1").status_code == 200


def test_ui_logout_revokes_the_cookie_token(users, client):
    r = client.post("/login", data={"username": "agent", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.cookies.get("itsm_session")
    assert cookie
    client.cookies.clear()
    client.cookies.set("itsm_session", cookie)
    assert client.get(f"{API}/users/me").status_code == 200
    assert client.post("/logout", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set("itsm_session", cookie)  # a copy of the old cookie
    assert client.get(f"{API}/users/me").status_code == 401


@pytest.mark.parametrize(("setting", "secure"), [(None, False), (True, True), (False, False)])
def test_cookie_secure_flag_follows_the_setting(users, client, monkeypatch, setting, secure):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "session_cookie_secure", setting)
    r = client.post("/login", data={"username": "agent", "password": PASSWORD}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert ("secure" in cookie.lower()) is secure, cookie


def test_security_headers_on_pages_api_and_errors(users, client):
    for path in ("/login", f"{API}/users/me", f"{API}/nothing-here", "/static/app.js"):
        r = client.get(path)
        h = r.headers
        assert h["x-content-type-options"] == "nosniff", path
        assert h["x-frame-options"] == "DENY", path
        assert h["referrer-policy"] == "same-origin", path
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0], path


def test_pages_use_no_inline_script_or_foreign_source():
    """The CSP allows the pages' own scripts only: no template may carry an inline script or an event
    handler attribute, nor load anything from another origin."""
    import re

    from itsm_ai.ui.rendering import STATIC_DIR

    templates = STATIC_DIR.parent / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert re.search(r'\bsrc="/static/[\w.-]+\.js"', tag), (path.name, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", text), path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert not re.search(r"""(?:src|href)=["']https?://""", text), path.name


def _change(client, headers, current, new):
    return client.post(
        f"{API}/users/me/password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


def test_password_change_revokes_older_tokens_and_answers_a_fresh_one(users, client):
    old = {"Authorization": f"Bearer {_login(client, 'agent', PASSWORD).json()['access_token']}"}
    r = _change(client, old, PASSWORD, "another-password-2")
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert_error(client.get(f"{API}/users/me", headers=old), 401)
    assert client.get(f"{API}/users/me", headers=fresh).status_code == 200
    assert _login(client, "agent", PASSWORD).status_code == 401
    assert _login(client, "agent", "another-password-2").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"new_password": "long-enough-1"}, "current_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "x" * 300}, "new_password"),
    ],
)
def test_password_change_bad_input_names_the_field(users, client, body, field):
    r = client.post(f"{API}/users/me/password", json=body, headers=users["requester"].headers)
    assert_error(r, 422, field)
    assert _login(client, "requester", PASSWORD).status_code == 200  # nothing changed


def test_password_change_needs_the_current_password_and_is_throttled(users, client, from_address, limits):
    """A stolen token cannot be used to guess the password either."""
    h = users["requester"].headers
    thief = from_address("203.0.113.50")
    for _ in range(3):
        assert_error(_change(thief, h, "wrong-password", "another-password-2"), 403, "current_password")
    r = _change(thief, h, PASSWORD, "another-password-2")
    assert r.status_code == 429 and r.headers["Retry-After"], r.text
    # The owner, from the address they signed in from, still can.
    assert _change(client, h, PASSWORD, "another-password-2").status_code == 200
    assert client.post(f"{API}/users/me/password", json={}).status_code == 401


def test_parallel_password_changes_never_fail(users, client):
    h = users["data_scientist"].headers

    def change(i):
        return _change(client, h, PASSWORD, f"parallel-password-{i}").status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(change, range(6)))
    # The first change revokes the token the others carry: they get 401 (or 403 once the password moved).
    assert codes.count(200) >= 1 and set(codes) <= {200, 401, 403, 409}, codes


def test_rows_that_count_no_more_are_dropped(db, limits):
    from datetime import timedelta

    from sqlalchemy import select

    from itsm_ai import database
    from itsm_ai.auth import throttle
    from itsm_ai.auth.enums import LoginOutcome
    from itsm_ai.auth.models import LoginAttempt
    from itsm_ai.database import utcnow

    start = utcnow()
    with database.get_session() as s:
        throttle.record(db_session=s, username="u", address="a", outcome=LoginOutcome.failure, now=start)
        throttle.record(db_session=s, username="u", address="a", outcome=LoginOutcome.success, now=start)
        throttle.record(db_session=s, username="v", address="b", outcome=LoginOutcome.failure, now=start)
    later = start + timedelta(seconds=3 * limits.login_window_seconds)
    with database.get_session() as s:
        throttle.record(db_session=s, username="u", address="c", outcome=LoginOutcome.failure, now=later)
    with database.get_session() as s:
        rows = [
            (r.username, r.address, r.outcome)
            for r in s.scalars(select(LoginAttempt).order_by(LoginAttempt.id))
        ]
    # u's old failure went; its success is kept (a known address); v's rows are not touched by u's login.
    assert rows == [("u", "a", "success"), ("v", "b", "failure"), ("u", "c", "failure")]


def test_parallel_logouts_never_fail(users, client):
    h = {"Authorization": f"Bearer {_login(client, 'agent2', PASSWORD).json()['access_token']}"}

    def logout(_):
        return client.post(f"{API}/auth/logout", headers=h).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(logout, range(6)))
    assert 204 in codes and set(codes) <= {204, 401, 409}, codes
    assert client.get(f"{API}/users/me", headers=h).status_code == 401
