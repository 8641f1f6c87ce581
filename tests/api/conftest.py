"""API test helpers: the one error-shape assertion, a client that turns server errors into 500 responses,
and factories that create records over the API (asserting 201)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import clean_database

API = "/api/v1"
ROLES = ("admin", "agent", "data_scientist", "requester")
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
}
ON_SQLITE = os.environ["ITSM_DATABASE_URL"].startswith("sqlite")


def assert_error(response, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert the one error body shape {"error": {status, code, message, fields: [{field, message}]}}.

    With `field`, the error must name it in `fields`. Returns the inner error object.
    """
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"status", "code", "message", "fields"} <= set(err), err
    assert err["status"] == status
    assert err["code"] == ERROR_CODES[status], err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert isinstance(err["fields"], list), err
    for item in err["fields"]:
        assert set(item) == {"field", "message"}, item
        assert isinstance(item["field"], str) and item["field"], item
        assert isinstance(item["message"], str) and item["message"], item
    if field is not None:
        named = [f["field"] for f in err["fields"]]
        assert field in named, f"error does not name {field!r}: {err}"
    return err


def make_app():
    """The application without the in-process background worker: its periodic sweeps (SLA, rules, webhook
    deliveries) would run beside every test, cost CPU and write on their own schedule."""
    import inspect

    from itsm_ai.main import create_app

    if "start_worker" in inspect.signature(create_app).parameters:
        return create_app(start_worker=False)
    return create_app()


@pytest.fixture
def app(db):
    return make_app()


@pytest.fixture
def client(app) -> Iterator:
    """Like the shared client, but an unhandled server error comes back as a 500 response to assert on."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class Factory:
    """Creates records over the API as a given user, asserting 201; unique names come from a counter."""

    def __init__(self, client, users):
        self.client = client
        self.users = users
        self._seq = itertools.count(1)

    def uid(self, stem: str) -> str:
        return f"{stem}-{next(self._seq)}"

    def post(self, path: str, body: dict[str, Any], as_: str = "agent", **kw) -> dict[str, Any]:
        r = self.client.post(f"{API}/{path}", json=body, headers=self.users[as_].headers, **kw)
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, path: str, as_: str = "agent", **kw) -> dict[str, Any]:
        r = self.client.get(f"{API}/{path}", headers=self.users[as_].headers, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def patch(self, path: str, body: dict[str, Any], as_: str = "agent") -> dict[str, Any]:
        """PATCH with the current version read first."""
        current = self.get(path, as_="admin")
        r = self.client.patch(
            f"{API}/{path}", json={"version": current["version"], **body}, headers=self.users[as_].headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    def incident(self, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("incidents", {"short_description": "Email is down", **fields}, as_)

    def problem(self, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("problems", {"short_description": "Mail relay flaps", **fields}, as_)

    def change(self, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("changes", {"short_description": "Patch mail relay", **fields}, as_)

    def request(self, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("requests", {"short_description": "New laptop", **fields}, as_)

    def article(self, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("knowledge", {"short_description": "Reset your password", **fields}, as_)

    def published_article(self, **fields) -> dict[str, Any]:
        art = self.article(**fields)
        self.patch(f"knowledge/{art['id']}", {"state": "review"})
        return self.patch(f"knowledge/{art['id']}", {"state": "published"})

    def asset(self, name: str | None = None, as_: str = "agent", **fields) -> dict[str, Any]:
        return self.post("assets", {"name": name or self.uid("srv"), **fields}, as_)

    def catalog_item(self, name: str | None = None, **fields) -> dict[str, Any]:
        return self.post("catalog-items", {"name": name or self.uid("Laptop"), **fields}, "admin")

    def group(self, name: str | None = None, **fields) -> dict[str, Any]:
        return self.post("groups", {"name": name or self.uid("Service Desk"), **fields}, "admin")

    def user(self, username: str | None = None, **fields) -> dict[str, Any]:
        return self.post("users", {"username": username or self.uid("user"), **fields}, "admin")


@pytest.fixture
def make(client, users) -> Factory:
    """Record factories over the API."""
    return Factory(client, users)


@pytest.fixture
def users(client) -> dict:
    """The shared `users` fixture minus the password hashing and the six HTTP logins: tokens are signed
    directly (login has its own tests in tests/auth), which keeps the many small API tests fast."""
    return _sign_in_everyone()


def _sign_in_everyone() -> dict:
    from itsm_ai import database
    from itsm_ai.auth import service, tokens
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from tests.conftest import Actor

    spec = {
        "admin": Role.admin,
        "agent": Role.agent,
        "agent2": Role.agent,
        "requester": Role.requester,
        "requester2": Role.requester,
        "data_scientist": Role.data_scientist,
    }
    actors = {}
    with database.get_session() as session:
        for name, role in spec.items():
            user = service.create(
                db_session=session,
                user_in=UserCreate(username=name, role=role),
                actor=None,
            )
            token, _ = tokens.create_access_token(user)
            actors[name] = Actor(name, str(role), {"Authorization": f"Bearer {token}"})
    return actors


class SharedApi:
    """One database, app, client, users and factory shared by a module's read-only tests."""

    def __init__(self, client, users):
        self.client = client
        self.users = users
        self.make = Factory(client, users)


@pytest.fixture(scope="module")
def shared_api(engine) -> Iterator[SharedApi]:
    """For modules whose tests only read: set up once, so seeding is paid once per module, not per test.

    Modules using it must not use the function-scoped `db`/`client` fixtures (those empty the database).
    """
    from fastapi.testclient import TestClient

    clean_database(engine)
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield SharedApi(client, _sign_in_everyone())
    clean_database(engine)


INCIDENT_ROWS = [
    # short_description, impact, urgency, category, group, assigned_to, caller, correlation_id, day, extra
    ("Printer jam on floor 3", 2, 2, "hardware", "Desk", "agent", "requester", "ext-1", 1, {}),
    ("VPN drops every hour", 1, 1, "network", "Network", "agent2", "requester2", "ext-2", 2, {}),
    (
        "100% CPU on mail server",
        1,
        2,
        "software",
        "Network",
        None,
        "requester",
        None,
        3,
        {"state": "in_progress", "subcategory": "email"},
    ),
    (
        "Mail_relay down",
        3,
        3,
        "network",
        "Desk",
        None,
        "requester2",
        None,
        4,
        {"description": "relay queue stuck"},
    ),
    (
        "Password reset",
        3,
        2,
        "access",
        None,
        None,
        None,
        None,
        5,
        {"state": "on_hold", "on_hold_reason": "awaiting_caller"},
    ),
    ("Printer toner low after 1000 pages", 3, 3, "hardware", None, "agent", None, None, 6, {}),
]


def seed_incidents(make: Factory) -> list[dict[str, Any]]:
    """Groups Desk and Network and six incidents INC0000001..6 with known fields, opened on 2024-01-01 ..
    2024-01-06 at 09:00 UTC (priorities 3, 1, 2, 4, 4, 4)."""
    make.group("Desk")
    make.group("Network")
    out = []
    for desc, impact, urgency, category, group, assignee, caller, corr, day, extra in INCIDENT_ROWS:
        body = {
            "short_description": desc,
            "impact": impact,
            "urgency": urgency,
            "category": category,
            "assignment_group": group,
            "assigned_to": assignee,
            "caller": caller,
            "correlation_id": corr,
            "opened_at": f"2024-01-0{day}T09:00:00Z",
            **extra,
        }
        out.append(make.incident(**body))
    return out


# The store's own audit actions; other features (SLA clocks, workflow) add their own events to the trail.
STORE_ACTIONS = ("create", "update", "delete", "comment", "work_note")


def store_events(events: list) -> list:
    """The audit events written by the store itself (dicts from the API or AuditEvent rows)."""
    return [e for e in events if (e["action"] if isinstance(e, dict) else e.action) in STORE_ACTIONS]


def store_actions(events: list) -> list[str]:
    """The actions of store_events(events), in order."""
    return [e["action"] if isinstance(e, dict) else e.action for e in store_events(events)]
