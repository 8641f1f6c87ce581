"""Authorization matrix: every endpoint in the OpenAPI document x every role (+ anonymous) -> expected status.

The endpoints are enumerated from `app.openapi()` at collection time, so a new endpoint without an entry in
EXPECTED fails here until someone decides who may call it. One module-scoped database serves the whole matrix;
every write goes to a record created for that test, so the cases do not depend on each other.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import API, assert_error

ANON = "anonymous"
# requester2 is a second requester acting on requester's incident and service request: those answer 404
# (OTHERS_TICKET), everything else answers as for requester.
ACTORS = ("admin", "agent", "data_scientist", "requester", "requester2", ANON)


# Allowed, probed with an id that does not exist: 404, or 422 when the body is checked before the lookup.
NOT_THERE = (404, 422)
Status = int | tuple[int, ...]


def _exp(
    admin: Status,
    agent: Status,
    data_scientist: Status,
    requester: Status,
    anonymous: Status = 401,
    requester2: Status | None = None,
) -> dict[str, Status]:
    return {
        "admin": admin,
        "agent": agent,
        "data_scientist": data_scientist,
        "requester": requester,
        "requester2": requester if requester2 is None else requester2,
        ANON: anonymous,
    }


OTHERS_TICKET = 404


def _ticket_like(path: str, requester_reads: bool) -> dict[tuple[str, str], dict[str, Status]]:
    """Incidents and requests (requester_reads) or problems and changes (staff and data scientists only)."""
    r = 200 if requester_reads else 403
    rc = 201 if requester_reads else 403
    other = OTHERS_TICKET if requester_reads else 403
    return {
        ("GET", f"/{path}"): _exp(200, 200, 200, r),
        ("POST", f"/{path}"): _exp(201, 201, 403, rc),
        ("GET", f"/{path}/{{ref}}"): _exp(200, 200, 200, r, requester2=other),
        ("PATCH", f"/{path}/{{ref}}"): _exp(200, 200, 403, 403),
        ("DELETE", f"/{path}/{{ref}}"): _exp(204, 403, 403, 403),
        ("GET", f"/{path}/{{ref}}/audit"): _exp(200, 200, 200, r, requester2=other),
        ("GET", f"/{path}/{{ref}}/comments"): _exp(200, 200, 200, r, requester2=other),
        ("POST", f"/{path}/{{ref}}/comments"): _exp(201, 201, 403, rc, requester2=other),
    }


EXPECTED: dict[tuple[str, str], dict[str, Status]] = {
    ("POST", "/auth/token"): _exp(200, 200, 200, 200, anonymous=200),
    ("POST", "/auth/logout"): _exp(204, 204, 204, 204),
    ("POST", "/users/{ref}/unlock"): _exp(204, 403, 403, 403),
    ("POST", "/users/me/password"): _exp(422, 422, 422, 422),
    ("GET", "/health"): _exp(200, 200, 200, 200, anonymous=200),
    ("GET", "/users/me"): _exp(200, 200, 200, 200),
    ("GET", "/users"): _exp(200, 200, 403, 403),
    ("POST", "/users"): _exp(201, 403, 403, 403),
    ("GET", "/users/{ref}"): _exp(200, 200, 403, 403),
    ("PATCH", "/users/{ref}"): _exp(200, 403, 403, 403),
    **_ticket_like("incidents", requester_reads=True),
    **_ticket_like("requests", requester_reads=True),
    **_ticket_like("problems", requester_reads=False),
    **_ticket_like("changes", requester_reads=False),
    ("GET", "/knowledge"): _exp(200, 200, 200, 200),
    ("POST", "/knowledge"): _exp(201, 201, 403, 403),
    ("GET", "/knowledge/{ref}"): _exp(200, 200, 200, 200),
    ("PATCH", "/knowledge/{ref}"): _exp(200, 200, 403, 403),
    ("DELETE", "/knowledge/{ref}"): _exp(204, 403, 403, 403),
    ("GET", "/knowledge/{ref}/audit"): _exp(200, 200, 200, 200),
    ("GET", "/assets"): _exp(200, 200, 200, 403),
    ("POST", "/assets"): _exp(201, 201, 403, 403),
    ("GET", "/assets/{ref}"): _exp(200, 200, 200, 403),
    ("PATCH", "/assets/{ref}"): _exp(200, 200, 403, 403),
    ("DELETE", "/assets/{ref}"): _exp(204, 403, 403, 403),
    ("GET", "/assets/{ref}/audit"): _exp(200, 200, 200, 403),
    ("GET", "/assets/{ref}/tickets"): _exp(200, 200, 200, 403),
    ("GET", "/catalog-items"): _exp(200, 200, 200, 200),
    ("POST", "/catalog-items"): _exp(201, 403, 403, 403),
    ("GET", "/catalog-items/{ref}"): _exp(200, 200, 200, 200),
    ("PATCH", "/catalog-items/{ref}"): _exp(200, 403, 403, 403),
    ("DELETE", "/catalog-items/{ref}"): _exp(204, 403, 403, 403),
    ("GET", "/catalog-items/{ref}/audit"): _exp(200, 200, 200, 200),
    ("GET", "/groups"): _exp(200, 200, 403, 403),
    ("POST", "/groups"): _exp(201, 403, 403, 403),
    ("GET", "/groups/{ref}"): _exp(200, 200, 403, 403),
    ("PATCH", "/groups/{ref}"): _exp(200, 403, 403, 403),
    ("DELETE", "/groups/{ref}"): _exp(204, 403, 403, 403),
    ("GET", "/groups/{ref}/audit"): _exp(200, 200, 403, 403),
    ("GET", "/export/{record_type}"): _exp(200, 403, 200, 403),
    # Reports: staff and data scientists read every figure; requesters none (they span everyone's tickets).
    ("GET", "/reports"): _exp(200, 200, 200, 403),
    ("GET", "/reports/{metric}"): _exp(200, 200, 200, 403),
    # Predictions: staff and data scientists read; staff refresh and acknowledge; probed ids do not exist.
    ("GET", "/predictions/incidents/{number}"): _exp(404, 404, 404, 403),
    ("POST", "/predictions/incidents/{number}/refresh"): _exp(404, 404, 403, 403),
    ("GET", "/predictions/at-risk"): _exp(200, 200, 200, 403),
    ("GET", "/predictions/alerts"): _exp(200, 200, 200, 403),
    ("GET", "/predictions/alerts/{alert_id}"): _exp(404, 404, 404, 403),
    ("PATCH", "/predictions/alerts/{alert_id}"): _exp(422, 422, 403, 403),
    ("GET", "/predictions/models/{name}/shadow-report"): _exp(NOT_THERE, 403, NOT_THERE, 403),
    # Approvals: staff ask, whoever is named decides; reading follows the record's read access.
    ("GET", "/approvals"): _exp(200, 200, 200, 200),
    ("GET", "/changes/{ref}/approvals"): _exp(200, 200, 200, 403),
    ("GET", "/requests/{ref}/approvals"): _exp(200, 200, 200, 200, requester2=OTHERS_TICKET),
    ("POST", "/changes/{ref}/approvals"): _exp(201, 201, 403, 403),
    ("POST", "/requests/{ref}/approvals"): _exp(201, 201, 403, 403),
    ("POST", "/approvals/{approval_id}/approve"): _exp(404, 404, 404, 404),
    ("POST", "/approvals/{approval_id}/reject"): _exp(404, 404, 404, 404),
    # Configuration: staff read, admins change.
    ("GET", "/config/priority-matrix"): _exp(200, 200, 403, 403),
    ("PUT", "/config/priority-matrix"): _exp(422, 403, 403, 403),
    ("GET", "/config/lifecycles"): _exp(200, 200, 403, 403),
    # SLA clocks follow the ticket's read access; calendars and policies: staff read, admins change.
    **{
        ("GET", f"/{p}/{{ref}}/sla"): _exp(200, 200, 200, 200, requester2=OTHERS_TICKET)
        for p in ("incidents", "requests")
    },
    **{("GET", f"/{p}/{{ref}}/sla"): _exp(200, 200, 200, 403) for p in ("problems", "changes")},
    **{("GET", f"/sla/{p}"): _exp(200, 200, 403, 403) for p in ("calendars", "policies", "defaults")},
    **{("GET", f"/sla/{p}/{{ref}}"): _exp(404, 404, 403, 403) for p in ("calendars", "policies")},
    **{("POST", f"/sla/{p}"): _exp(422, 403, 403, 403) for p in ("calendars", "policies")},
    **{("PATCH", f"/sla/{p}/{{ref}}"): _exp(NOT_THERE, 403, 403, 403) for p in ("calendars", "policies")},
    **{("DELETE", f"/sla/{p}/{{ref}}"): _exp(404, 403, 403, 403) for p in ("calendars", "policies")},
    **{("GET", f"/sla/{p}/{{ref}}/audit"): _exp(404, 404, 403, 403) for p in ("calendars", "policies")},
    # Automation rules: staff read and dry-run, admins change.
    ("GET", "/rules"): _exp(200, 200, 403, 403),
    ("POST", "/rules"): _exp(422, 403, 403, 403),
    ("POST", "/rules/dry-run"): _exp(422, 403, 403, 403),
    ("GET", "/rules/{ref}"): _exp(404, 404, 403, 403),
    ("PATCH", "/rules/{ref}"): _exp(NOT_THERE, 403, 403, 403),
    ("DELETE", "/rules/{ref}"): _exp(404, 403, 403, 403),
    ("POST", "/rules/{ref}/enable"): _exp(404, 403, 403, 403),
    ("POST", "/rules/{ref}/disable"): _exp(404, 403, 403, 403),
    ("POST", "/rules/{ref}/dry-run"): _exp(NOT_THERE, NOT_THERE, 403, 403),
    ("GET", "/rules/{ref}/deliveries"): _exp(NOT_THERE, 403, 403, 403),
    ("GET", "/rules/{ref}/audit"): _exp(404, 404, 403, 403),
    # Webhooks: admins only.
    ("GET", "/webhooks"): _exp(200, 403, 403, 403),
    ("POST", "/webhooks"): _exp(422, 403, 403, 403),
    ("GET", "/webhooks/{ref}"): _exp(404, 403, 403, 403),
    ("PATCH", "/webhooks/{ref}"): _exp(NOT_THERE, 403, 403, 403),
    ("DELETE", "/webhooks/{ref}"): _exp(404, 403, 403, 403),
    ("GET", "/webhooks/{ref}/deliveries"): _exp(NOT_THERE, 403, 403, 403),
    ("POST", "/webhooks/{ref}/deliveries/{delivery_id}/redeliver"): _exp(404, 403, 403, 403),
    ("GET", "/webhooks/{ref}/audit"): _exp(404, 403, 403, 403),
    # Knowledge: similar records for every role (requesters: published articles only; the probe's empty
    # body is 422), an incident's similar records for readers; duplicates, major incidents and drafting
    # for staff (the fresh "fresh" tickets duplicate each other, so these succeed or find nothing to act on:
    # 422/409); reports for readers; feedback for all.
    ("POST", "/similar"): _exp(422, 422, 422, 422),
    ("GET", "/incidents/{ref}/similar"): _exp(200, 200, 200, 403),
    # The caller's answer to a resolution: the caller and staff reach the state check (the fresh incident is
    # new, not resolved: 409), other requesters do not see the ticket, data scientists may not.
    ("POST", "/incidents/{ref}/confirm"): _exp(409, 409, 403, 409, requester2=OTHERS_TICKET),
    ("POST", "/incidents/{ref}/reopen"): _exp(409, 409, 403, 409, requester2=OTHERS_TICKET),
    ("POST", "/incidents/{ref}/duplicate/confirm"): _exp((200, 422), (200, 422), 403, 403),
    ("POST", "/incidents/{ref}/duplicate/dismiss"): _exp((200, 409), (200, 409), 403, 403),
    ("POST", "/incidents/{ref}/major-incident/problem"): _exp((201, 409), (201, 409), 403, 403),
    ("GET", "/knowledge/search"): _exp(200, 200, 200, 200),
    ("POST", "/knowledge/drafts/generate"): _exp(200, 200, 403, 403),
    ("GET", "/knowledge/reports/gaps"): _exp(200, 200, 200, 403),
    ("GET", "/knowledge/reports/stale"): _exp(200, 200, 200, 403),
    ("POST", "/knowledge/{ref}/feedback"): _exp(422, 422, 422, 422),
    # Triage: staff accept/override suggestions (an unknown field is 422); agents, admins and data
    # scientists triage free text; the model registry is for data scientists and admins.
    **{
        ("POST", f"/{p}/{{ref}}/suggestions/{{field}}/{action}"): _exp(422, 422, 403, 403)
        for p in ("incidents", "requests", "problems", "changes")
        for action in ("accept", "override")
    },
    ("GET", "/triage"): _exp(422, 422, 422, 403),
    ("POST", "/triage"): _exp(422, 422, 422, 403),
    ("GET", "/models"): _exp(200, 403, 200, 403),
    ("POST", "/models/train"): _exp(422, 403, 422, 403),
    ("GET", "/models/jobs"): _exp(200, 403, 200, 403),
    ("GET", "/models/jobs/{job_id}"): _exp(404, 403, 404, 403),
    ("GET", "/models/{name}"): _exp(404, 403, 404, 403),
    ("GET", "/models/{name}/versions/{version}"): _exp(NOT_THERE, 403, NOT_THERE, 403),
    ("POST", "/models/{name}/promote"): _exp(422, 403, 422, 403),
    ("POST", "/models/{name}/rollback"): _exp(404, 403, 404, 403),
    ("PUT", "/models/{name}/challenger"): _exp(422, 403, 422, 403),
    ("GET", "/models/{name}/shadow-report"): _exp(404, 403, 404, 403),
    ("GET", "/models/encoder"): _exp(200, 403, 200, 403),
    ("GET", "/models/encoder/shadow-report"): _exp(200, 403, 200, 403),
    ("POST", "/models/encoder/train"): _exp((202, 409), 403, (202, 409), 403),
    ("POST", "/models/encoder/promote"): _exp(422, 403, 422, 403),
    ("POST", "/models/encoder/rollback"): _exp(409, 403, 409, 403),
    ("PUT", "/models/encoder/challenger"): _exp(422, 403, 422, 403),
    # Virtual agent: every signed-in user chats (the probe's empty body is 422) and lists their own
    # conversations; reading one: its owner, agents and admins (a missing id is 404 for everyone).
    ("POST", "/chat"): _exp(422, 422, 422, 422),
    ("GET", "/chat"): _exp(200, 200, 200, 200),
    ("GET", "/chat/{conversation_id}"): _exp(404, 404, 404, 404),
    # Attachments follow the record: whoever may reply on a ticket (edit an article) uploads (the probe sends
    # no file: 422); whoever may read it lists; a missing attachment id is 404 for everyone signed in.
    **{
        ("POST", f"/{p}/{{ref}}/attachments"): _exp(422, 422, 403, 422, requester2=OTHERS_TICKET)
        for p in ("incidents", "requests")
    },
    **{
        ("POST", f"/{p}/{{ref}}/attachments"): _exp(422, 422, 403, 403)
        for p in ("problems", "changes", "knowledge")
    },
    **{
        ("GET", f"/{p}/{{ref}}/attachments"): _exp(200, 200, 200, 200, requester2=OTHERS_TICKET)
        for p in ("incidents", "requests")
    },
    **{("GET", f"/{p}/{{ref}}/attachments"): _exp(200, 200, 200, 403) for p in ("problems", "changes")},
    ("GET", "/knowledge/{ref}/attachments"): _exp(200, 200, 200, 200),
    ("GET", "/attachments/{attachment_id}"): _exp(404, 404, 404, 404),
    ("GET", "/attachments/{attachment_id}/meta"): _exp(404, 404, 404, 404),
    ("DELETE", "/attachments/{attachment_id}"): _exp(404, 404, 404, 404),
    # Notifications: everyone their own; templates for admins (a missing event is 404); the mail log: staff.
    ("GET", "/notifications"): _exp(200, 200, 200, 200),
    ("POST", "/notifications/read-all"): _exp(200, 200, 200, 200),
    ("POST", "/notifications/{notification_id}/read"): _exp(404, 404, 404, 404),
    ("GET", "/notifications/preferences"): _exp(200, 200, 200, 200),
    ("PUT", "/notifications/preferences"): _exp(200, 200, 200, 200),
    ("GET", "/notification-templates"): _exp(200, 403, 403, 403),
    ("GET", "/notification-templates/{event}"): _exp(404, 403, 403, 403),
    ("PUT", "/notification-templates/{event}"): _exp(422, 403, 403, 403),
    ("DELETE", "/notification-templates/{event}"): _exp(404, 403, 403, 403),
    ("POST", "/notification-templates/{event}/preview"): _exp(404, 403, 403, 403),
    ("GET", "/mail/messages"): _exp(200, 200, 403, 403),
    # The ServiceNow-compatible API (issue 16) follows the native rules, probed on the incident table and
    # requester's incident; requester2 is 404 on it. Its token endpoint answers anyone with credentials.
    **{
        entry: expected
        for prefix in ("/api/now/table", "/api/now/v1/table")
        for entry, expected in {
            ("GET", f"{prefix}/{{table}}"): _exp(200, 200, 200, 200),
            ("POST", f"{prefix}/{{table}}"): _exp(201, 201, 403, 201),
            ("GET", f"{prefix}/{{table}}/{{sys_id}}"): _exp(200, 200, 200, 200, requester2=404),
            ("PUT", f"{prefix}/{{table}}/{{sys_id}}"): _exp(200, 200, 403, 403),
            ("PATCH", f"{prefix}/{{table}}/{{sys_id}}"): _exp(200, 200, 403, 403),
            ("DELETE", f"{prefix}/{{table}}/{{sys_id}}"): _exp(204, 403, 403, 403),
        }.items()
    },
    **{("GET", f"{p}/{{table}}"): _exp(200, 200, 200, 200) for p in ("/api/now/stats", "/api/now/v1/stats")},
    **{
        entry: expected
        for prefix in ("/api/now/attachment", "/api/now/v1/attachment")
        for entry, expected in {
            ("GET", prefix): _exp(200, 200, 200, 200, requester2=404),
            ("POST", f"{prefix}/file"): _exp(201, 201, 403, 201, requester2=404),
            ("GET", f"{prefix}/{{sys_id}}"): _exp(404, 404, 404, 404),
            ("GET", f"{prefix}/{{sys_id}}/file"): _exp(404, 404, 404, 404),
            ("DELETE", f"{prefix}/{{sys_id}}"): _exp(404, 404, 404, 404),
        }.items()
    },
    ("POST", "/api/now/v1/batch"): _exp(200, 200, 200, 200),
    ("POST", "/oauth_token.do"): _exp(200, 200, 200, 200, anonymous=200),
}

# (method, path, actor) -> reason, for a known bug the matrix marks xfail(strict) until it is fixed.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def _openapi_endpoints() -> list[tuple[str, str]]:
    from itsm_ai.main import create_app

    out = []
    for path, methods in create_app().openapi()["paths"].items():
        short = path.removeprefix(API) if path.startswith(API + "/") else path
        for method in methods:
            out.append((method.upper(), short))
    return sorted(out)


ENDPOINTS = _openapi_endpoints()


def _cases():
    for method, path in ENDPOINTS:
        for actor in ACTORS:
            marks = []
            bug = KNOWN_BUGS.get((method, path, actor))
            if bug:
                marks.append(pytest.mark.xfail(strict=True, reason=bug))
            yield pytest.param(method, path, actor, id=f"{method} {path} {actor}", marks=marks)


# ------------------------------------------------------------------------------------------ environment


@dataclass
class Env:
    client: Any
    headers: dict[str, dict[str, str]]
    refs: dict[str, str]
    seq: Any

    def admin(self, method: str, path: str, **kw) -> dict[str, Any]:
        r = self.client.request(method, f"{API}{path}", headers=self.headers["admin"], **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def name(self, stem: str) -> str:
        return f"{stem}-{next(self.seq)}"


PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def env(engine):
    """One database for the whole matrix: a user per role and one record of every type."""
    from fastapi.testclient import TestClient

    from itsm_ai import database
    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from tests.api.conftest import make_app
    from tests.conftest import clean_database

    clean_database(engine)
    roles = {"admin": Role.admin, "agent": Role.agent, "data_scientist": Role.data_scientist}
    roles |= {"requester": Role.requester, "requester2": Role.requester}
    with database.get_session() as session:
        for name, role in roles.items():
            service.create(
                db_session=session, user_in=UserCreate(username=name, role=role, password=PASSWORD)
            )
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        headers = {ANON: {}}
        for name in roles:
            r = client.post(f"{API}/auth/token", data={"username": name, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        e = Env(client, headers, {}, itertools.count(1))
        e.admin("POST", "/groups", json={"name": "Service Desk", "members": ["agent"]})
        item = e.admin("POST", "/catalog-items", json={"name": "Laptop"})
        asset = e.admin("POST", "/assets", json={"name": "mail-01"})
        e.refs = {
            "incidents": e.admin(
                "POST",
                "/incidents",
                json={"short_description": "own", "caller": "requester", "configuration_items": ["mail-01"]},
            )["number"],
            "requests": e.admin("POST", "/requests", json={"catalog_item": "Laptop", "caller": "requester"})[
                "number"
            ],
            "problems": e.admin("POST", "/problems", json={"short_description": "p"})["number"],
            "changes": e.admin("POST", "/changes", json={"short_description": "c"})["number"],
            "knowledge": _published_article(e),
            "assets": asset["number"],
            "catalog-items": item["name"],
            "groups": "Service Desk",
            "users": "requester",
        }
        yield e
    clean_database(engine)


def _published_article(e: Env) -> str:
    art = e.admin("POST", "/knowledge", json={"short_description": "How to", "text": "Do this."})
    v = e.admin("PATCH", f"/knowledge/{art['id']}", json={"version": art["version"], "state": "review"})
    e.admin("PATCH", f"/knowledge/{art['id']}", json={"version": v["version"], "state": "published"})
    return art["number"]


def _fresh(e: Env, collection: str) -> dict[str, Any]:
    """A new record of the collection for a test that changes or deletes it."""
    bodies = {
        "incidents": {"short_description": "fresh", "caller": "requester"},
        "requests": {"catalog_item": "Laptop", "caller": "requester"},
        "problems": {"short_description": "fresh"},
        "changes": {"short_description": "fresh"},
        "knowledge": {"short_description": "fresh"},
        "assets": {"name": e.name("asset")},
        "catalog-items": {"name": e.name("item")},
        "groups": {"name": e.name("group")},
        "users": {"username": e.name("user"), "password": PASSWORD},
    }
    return e.admin("POST", f"/{collection}", json=bodies[collection])


def _create_body(e: Env, collection: str) -> dict[str, Any]:
    bodies = {
        "incidents": {"short_description": "Matrix incident"},
        "requests": {"catalog_item": "Laptop"},
        "problems": {"short_description": "Matrix problem"},
        "changes": {"short_description": "Matrix change"},
        "knowledge": {"short_description": "Matrix article"},
        "assets": {"name": e.name("asset")},
        "catalog-items": {"name": e.name("item")},
        "groups": {"name": e.name("group")},
        "users": {"username": e.name("user"), "password": PASSWORD},
    }
    return bodies[collection]


PATCH_FIELD = {"knowledge": "text", "users": "full_name"}


def _request(e: Env, method: str, path: str, actor: str) -> tuple[str, dict[str, Any]]:
    """The URL and request arguments that exercise one endpoint as one actor (with a valid body)."""
    if (method, path) == ("POST", "/auth/token"):
        name = "requester" if actor == ANON else actor
        return f"{API}/auth/token", {"data": {"username": name, "password": PASSWORD}}
    if path == "/health":
        return "/health", {}
    if path == "/users/me":
        return f"{API}/users/me", {}
    if path == "/knowledge/search":
        return f"{API}/knowledge/search", {"params": {"q": "how to"}}
    if path == "/export/{record_type}":
        return f"{API}/export/incidents", {"params": {"format": "csv"}}
    if path == "/reports/{metric}":
        return f"{API}/reports/sla-compliance", {"params": {"group_by": "group"}}
    if path.startswith(("/api/now/", "/oauth_token.do")):
        return _servicenow_request(e, method, path, actor)
    parts = path.strip("/").split("/")
    collection = parts[0]
    if collection not in e.refs or len(parts) > 3 or (len(parts) == 3 and parts[2] not in CORE_SUBS):
        return _probe(e, method, path)
    if len(parts) == 1:
        if method == "GET":
            return f"{API}/{collection}", {}
        if method == "POST":
            return f"{API}/{collection}", {"json": _create_body(e, collection)}
    elif parts[1] == "{ref}":
        sub = parts[2] if len(parts) > 2 else None
        if sub is None and method in ("PATCH", "DELETE"):
            target = _fresh(e, collection)
            key = str(target["id"])
            if method == "DELETE":
                return f"{API}/{collection}/{key}", {}
            field = PATCH_FIELD.get(collection, "description")
            return f"{API}/{collection}/{key}", {"json": {"version": target["version"], field: "changed"}}
        url = f"{API}/{collection}/{e.refs[collection]}" + (f"/{sub}" if sub else "")
        if method == "GET":
            return url, {}
        if method == "POST" and sub == "comments":
            return url, {"json": {"body": "matrix comment"}}
    raise AssertionError(f"no request builder for {method} {path}: add it to the matrix")


def _servicenow_request(e: Env, method: str, path: str, actor: str) -> tuple[str, dict[str, Any]]:
    """ServiceNow paths: the incident table, requester's incident (a fresh one for writes)."""
    from itsm_ai.servicenow.codes import encode_sys_id

    if path == "/oauth_token.do":
        name = "requester" if actor == ANON else actor
        return path, {"data": {"grant_type": "password", "username": name, "password": PASSWORD}}
    own = e.admin("GET", f"/incidents/{e.refs['incidents']}")["id"]
    own_sys_id = encode_sys_id("incident", own)
    if path.endswith("/batch"):
        return path, {"json": {"batch_request_id": "1", "rest_requests": []}}
    if "/stats/" in path:
        return path.replace("{table}", "incident"), {"params": {"sysparm_count": "true"}}
    if "/attachment" in path:
        if "{sys_id}" in path:
            return path.replace("{sys_id}", "f" * 32), {}
        if path.endswith("/file"):
            params = {"file_name": "a.txt", "table_name": "incident", "table_sys_id": own_sys_id}
            return path, {"params": params, "content": b"hello"}
        return path, {"params": {"sysparm_query": f"table_sys_id={own_sys_id}"}}
    url = path.replace("{table}", "incident")
    if "{sys_id}" not in path:
        return url, ({"json": {"short_description": "Matrix incident"}} if method == "POST" else {})
    if method == "GET":
        return url.replace("{sys_id}", own_sys_id), {}
    fresh = encode_sys_id("incident", _fresh(e, "incidents")["id"])
    body = {"json": {"description": "changed"}} if method in ("PUT", "PATCH") else {}
    return url.replace("{sys_id}", fresh), body


def assert_servicenow_error(response) -> None:
    """ServiceNow's error shape {"error": {"message", "detail"}, "status": "failure"}."""
    body = response.json()
    assert body.get("status") == "failure" and set(body.get("error", {})) == {"message", "detail"}, body
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", "").startswith("Basic")


CORE_SUBS = ("audit", "comments", "tickets")
PROBE_BODIES = {
    ("POST", "/changes/{ref}/approvals"): {"approvers": ["admin"]},
    ("POST", "/requests/{ref}/approvals"): {"approvers": ["admin"]},
    ("POST", "/incidents/{ref}/confirm"): {"version": 1},
    ("POST", "/incidents/{ref}/reopen"): {"version": 1, "comment": "still broken"},
}


def _probe(e: Env, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """Feature endpoints: a ticket {ref} is a real ticket (fresh for writes); other ids do not exist; bodies
    are empty unless PROBE_BODIES has one, so allowed callers get a concrete 200/201/404/422."""
    parts = path.strip("/").split("/")
    filled = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            owner = parts[i - 1] if i else ""
            if part == "{ref}" and owner in e.refs:
                ref = str(_fresh(e, owner)["id"]) if method != "GET" else e.refs[owner]
                filled.append(ref)
            else:
                filled.append("999999")
        else:
            filled.append(part)
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = PROBE_BODIES.get((method, path), {})
    return f"{API}/" + "/".join(filled), kwargs


def test_every_matrix_entry_is_a_real_endpoint():
    """A removed or renamed endpoint must leave the matrix too (the per-case tests cover additions)."""
    assert set(EXPECTED) - set(ENDPOINTS) == set()
    assert {(m, p) for m, p, _ in KNOWN_BUGS} <= set(EXPECTED)


@pytest.mark.parametrize(("method", "path", "actor"), list(_cases()))
def test_access(env: Env, method: str, path: str, actor: str):
    assert (method, path) in EXPECTED, (
        f"new endpoint {method} {path} has no entry in the authorization matrix"
    )
    expected = EXPECTED[(method, path)][actor]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    url, kwargs = _request(env, method, path, actor)
    response = env.client.request(method, url, headers=env.headers[actor], **kwargs)
    assert response.status_code in allowed, f"{response.status_code} not in {allowed}: {response.text}"
    if (method, path) == ("POST", "/auth/logout") and response.status_code == 204:
        # Logging out revoked the actor's tokens: sign in again for the cases that follow.
        r = env.client.post(f"{API}/auth/token", data={"username": actor, "password": PASSWORD})
        assert r.status_code == 200, r.text
        env.headers[actor] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    if method == "GET" and path in ("/incidents", "/requests") and actor.startswith("requester"):
        callers = {item["caller"] for item in response.json()["items"]}
        assert callers <= {actor}, f"{actor} sees tickets of {callers - {actor}}"
        assert response.json()["total"] == len(response.json()["items"])
    if response.status_code >= 400 and path.startswith("/api/now/"):
        assert_servicenow_error(response)
    elif response.status_code >= 400:
        assert_error(response, response.status_code)
        if response.status_code == 401:
            assert response.headers.get("www-authenticate") == "Bearer"
