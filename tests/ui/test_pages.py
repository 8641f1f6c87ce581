"""Web UI pages over TestClient: login and logout, role redirects, who may open which page, the session
cookie's CSRF rule on the API, requesters seeing only their own tickets, and escaping of user text."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from itsm_ai import database
from itsm_ai.auth.dependencies import CSRF_HEADER, CSRF_VALUE, SESSION_COOKIE
from tests.ui.conftest import login

CSRF = {CSRF_HEADER: CSRF_VALUE}
PORTAL_PAGES = ("/portal", "/portal/tickets", "/portal/knowledge", "/portal/catalog")
CONSOLE_PAGES = ("/console", "/console?type=service_request&sort=priority")


@pytest.fixture(autouse=True)
def _hashing_knowledge_encoder(monkeypatch):
    """Knowledge search with the hashing encoder: no sentence model is loaded by these page tests."""
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval

    monkeypatch.setattr(get_settings(), "knowledge_encoder", "hash")
    retrieval.reset_service(None)
    yield
    retrieval.reset_service(None)


def _set_suggestions(number: str, suggestions: dict) -> None:
    from itsm_ai.ticket.models import Incident

    with database.get_session() as session:
        session.execute(update(Incident).where(Incident.number == number).values(suggestions=suggestions))


# -- login, logout, redirects --------------------------------------------------------------------------------


def test_login_page_renders_with_labels(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    assert 'lang="en"' in page.text and 'name="viewport"' in page.text


@pytest.mark.parametrize(
    ("username", "home"),
    [("requester", "/portal"), ("agent", "/console"), ("admin", "/console"), ("data_scientist", "/console")],
)
def test_login_redirects_by_role_and_sets_a_strict_httponly_cookie(client, users, username, home):
    response = login(client, username)
    assert response.status_code == 303
    assert response.headers["location"] == home
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get(home).status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == home


def test_wrong_password_shows_an_error_and_sets_no_cookie(client, users):
    response = login(client, "agent", "wrong-password")
    assert response.status_code == 401
    assert "Incorrect username or password" in response.text
    assert "set-cookie" not in response.headers
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_next_is_followed_only_for_local_paths(client, users):
    assert login(client, "agent", next="/console?state=new").headers["location"] == "/console?state=new"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert login(client, "agent", next=evil).headers["location"] == "/console"


def test_logout_clears_the_cookie(client, users):
    login(client, "requester")
    assert client.get("/portal").status_code == 200
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (
        f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    client.cookies.clear()  # what the browser does with the expired cookie
    assert client.get("/portal", follow_redirects=False).headers["location"] == "/login?next=/portal"


@pytest.mark.parametrize(
    "path", [*PORTAL_PAGES, "/console", "/console/knowledge", "/portal/tickets/INC0000001"]
)
def test_pages_redirect_anonymous_users_to_login(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_a_forged_or_expired_cookie_is_treated_as_logged_out(client, users):
    client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert client.get("/portal", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/users/me").status_code == 401


# -- who sees which page -------------------------------------------------------------------------------------


def test_portal_pages_render_for_requesters_only(client, users):
    login(client, "requester")
    for path in PORTAL_PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'aria-current="page"' in page.text
    for name in ("agent", "admin", "data_scientist"):
        login(client, name)
        for path in PORTAL_PAGES:
            page = client.get(path)
            assert page.status_code == 403, (name, path)
            assert "Not allowed" in page.text and "text/html" in page.headers["content-type"]


def test_console_pages_render_for_staff_and_data_scientists(client, users):
    for name in ("agent", "admin", "data_scientist"):
        login(client, name)
        for path in CONSOLE_PAGES:
            assert client.get(path).status_code == 200, (name, path)
    login(client, "requester")
    for path in (*CONSOLE_PAGES, "/console/knowledge"):
        assert client.get(path).status_code == 403, path


def test_review_queue_is_for_agents_and_admins(client, users, make):
    art = make.article(short_description="Fix the VPN client", text="Reinstall it.")
    make.patch(f"knowledge/{art['id']}", {"state": "review"})
    for name in ("agent", "admin"):
        login(client, name)
        page = client.get("/console/knowledge")
        assert page.status_code == 200
        assert "Fix the VPN client" in page.text and "Publish" in page.text
    login(client, "data_scientist")
    assert client.get("/console/knowledge").status_code == 403


def test_bad_queue_filters_render_an_error_page(client, users):
    login(client, "agent")
    page = client.get("/console?type=nonsense")
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]


# -- the session cookie on the API ---------------------------------------------------------------------------


def test_the_api_accepts_the_cookie_and_requires_the_csrf_header_for_changes(client, users):
    login(client, "requester")
    me = client.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["username"] == "requester"
    body = {"short_description": "Cookie-made ticket"}
    refused = client.post("/api/v1/incidents", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["fields"][0]["field"] == CSRF_HEADER
    assert client.post("/api/v1/incidents", json=body, headers={CSRF_HEADER: "other"}).status_code == 403
    created = client.post("/api/v1/incidents", json=body, headers=CSRF)
    assert created.status_code == 201, created.text
    assert created.json()["caller"] == "requester"


def test_a_bearer_token_needs_no_csrf_header(client, users):
    login(client, "agent")
    headers = users["requester"].headers
    created = client.post("/api/v1/incidents", json={"short_description": "Bearer"}, headers=headers)
    # The bearer token wins over the cookie: the ticket belongs to the token's user.
    assert created.status_code == 201 and created.json()["caller"] == "requester"


# -- portal content ------------------------------------------------------------------------------------------


def test_requester_sees_own_ticket_with_public_history_only(client, users, make):
    inc = make.incident(as_="requester", short_description="Laptop will not boot")
    make.post(
        f"incidents/{inc['number']}/comments", {"body": "Please bring it to the desk", "visibility": "public"}
    )
    make.post(f"incidents/{inc['number']}/comments", {"body": "SECRET-NOTE", "visibility": "internal"})
    make.patch(f"incidents/{inc['number']}", {"state": "in_progress"})
    login(client, "requester")
    mine = client.get("/portal/tickets")
    assert inc["number"] in mine.text and "Laptop will not boot" in mine.text
    page = client.get(f"/portal/tickets/{inc['number']}")
    assert page.status_code == 200
    assert "Please bring it to the desk" in page.text
    assert "SECRET-NOTE" not in page.text
    assert "in progress" in page.text
    login(client, "agent")
    console = client.get(f"/console/tickets/{inc['number']}")
    assert "SECRET-NOTE" in console.text and "work note (internal)" in console.text


def test_requester_cannot_open_another_requesters_ticket(client, users, make):
    other = make.incident(as_="requester2", short_description="Someone else's problem")
    login(client, "requester")
    page = client.get(f"/portal/tickets/{other['number']}")
    assert page.status_code == 404
    assert "Someone else" not in page.text
    assert other["number"] not in client.get("/portal/tickets").text
    assert client.get("/portal/tickets/XYZ123").status_code == 404


def test_requesters_see_published_articles_only(client, users, make):
    pub = make.published_article(short_description="VPN keeps disconnecting", text="Update the VPN client.")
    draft = make.article(short_description="VPN draft notes", text="internal vpn notes")
    login(client, "requester")
    found = client.get("/portal/knowledge", params={"q": "my vpn keeps disconnecting"})
    assert pub["number"] in found.text and "VPN draft notes" not in found.text
    assert client.get(f"/portal/knowledge/{pub['number']}").status_code == 200
    assert client.get(f"/portal/knowledge/{draft['number']}").status_code == 404


def test_catalog_lists_active_items_with_an_order_form(client, users, make):
    make.catalog_item("Docking station", category="Hardware")
    make.catalog_item("Old pager", active=False)
    login(client, "requester")
    page = client.get("/portal/catalog")
    assert "Docking station" in page.text and "Old pager" not in page.text
    assert 'data-url="/api/v1/requests"' in page.text
    assert 'for="qty-' in page.text


def test_chat_page_has_a_labelled_chat_panel(client, users):
    login(client, "requester")
    page = client.get("/portal")
    if 'id="chat"' not in page.text:
        assert "virtual agent is not available" in page.text
        return
    assert '<label for="chat-input">' in page.text and 'data-endpoint="/api/v1/chat"' in page.text


# -- console content -----------------------------------------------------------------------------------------


def test_queue_sorts_by_sla_due_and_filters(client, users, make):
    make.group("Network")
    low = make.incident(short_description="Low one", impact=3, urgency=3)
    urgent = make.incident(short_description="Urgent one", impact=1, urgency=1, assignment_group="Network")
    login(client, "agent")
    page = client.get("/console").text
    assert page.index(urgent["number"]) < page.index(low["number"])
    assert "due in" in page
    filtered = client.get("/console", params={"group": "Network"}).text
    assert urgent["number"] in filtered and low["number"] not in filtered
    by_priority = client.get("/console", params={"priority": 4}).text
    assert low["number"] in by_priority and urgent["number"] not in by_priority
    resolved = client.get("/console", params={"state": "resolved"}).text
    assert low["number"] not in resolved


def test_ticket_page_without_suggestions_says_so(client, users, make):
    inc = make.incident(short_description="Printer offline")
    _set_suggestions(inc["number"], None)
    login(client, "agent")
    page = client.get(f"/console/tickets/{inc['number']}")
    assert page.status_code == 200
    assert 'id="no-suggestion"' in page.text and "No suggestion" in page.text
    assert "SLA" in page.text and 'id="state-form"' in page.text


SUGGESTIONS = {
    "fields": {
        "category": {
            "status": "suggested",
            "value": "network",
            "confidence": 0.83,
            "threshold": 0.6,
            "model": "category",
            "version": "v1",
            "alternatives": [
                {"value": "network", "confidence": 0.83},
                {"value": "hardware", "confidence": 0.1},
            ],
            "evidence": [
                {
                    "number": "INC0000999",
                    "short_description": "VPN down",
                    "label": "network",
                    "similarity": 0.9,
                }
            ],
            "reason": None,
            "feedback": None,
        },
        "priority": {
            "status": "abstained",
            "value": None,
            "confidence": 0.3,
            "threshold": 0.7,
            "model": "priority",
            "version": "v1",
            "alternatives": [],
            "evidence": [],
            "reason": "confidence below threshold",
            "feedback": None,
        },
    },
    "similar": [
        {
            "number": "INC0000777",
            "record_type": "incident",
            "correlation_id": None,
            "short_description": "VPN flaps",
            "score": 0.88,
            "state": "resolved",
            "suggested_fix": "Update the VPN client",
        }
    ],
    "duplicate": {"number": "INC0000777", "score": 0.95, "status": "suggested"},
}


def test_ticket_page_shows_suggestions_evidence_similar_and_duplicate(client, users, make):
    inc = make.incident(short_description="VPN drops")
    _set_suggestions(inc["number"], SUGGESTIONS)
    login(client, "agent")
    text = client.get(f"/console/tickets/{inc['number']}").text
    assert "83%" in text and "threshold 60%" in text
    assert "hardware (10%)" in text and "INC0000999" in text
    assert "No suggestion (confidence below threshold)" in text
    assert "Update the VPN client" in text and "Possible duplicate of" in text
    accept = re.search(r'data-url="([^"]+/suggestions/category/accept)"', text)
    assert accept or "Accepting is not available" in text
    login(client, "data_scientist")
    read_only = client.get(f"/console/tickets/{inc['number']}").text
    assert "83%" in read_only and "/suggestions/category/accept" not in read_only
    assert 'id="state-form"' not in read_only
    login(client, "requester")
    assert client.get(f"/console/tickets/{inc['number']}").status_code == 403


def test_similar_master_names_the_confirmed_duplicates_it_was_reached_through(client, users, make):
    inc = make.incident(short_description="VPN drops")
    similar = [{**SUGGESTIONS["similar"][0], "via": ["INC0000123"]}, {**SUGGESTIONS["similar"][0], "via": []}]
    _set_suggestions(inc["number"], {"similar": similar})
    login(client, "agent")
    text = client.get(f"/console/tickets/{inc['number']}").text
    assert text.count("via confirmed duplicate") == 1
    assert 'via confirmed duplicate <a href="/console/tickets/INC0000123">INC0000123</a>' in text


def test_user_text_is_escaped_everywhere(client, users, make):
    evil = '<script>alert("x")</script>'
    inc = make.incident(as_="requester", short_description=evil, description=evil)
    make.post(f"incidents/{inc['number']}/comments", {"body": evil, "visibility": "public"})
    _set_suggestions(
        inc["number"], {"fields": {"category": {**SUGGESTIONS["fields"]["category"], "value": evil}}}
    )
    pub = make.published_article(short_description=evil, text=evil)
    login(client, "requester")
    pages = [
        client.get("/portal/tickets").text,
        client.get(f"/portal/tickets/{inc['number']}").text,
        client.get("/portal/knowledge", params={"q": evil}).text,
        client.get(f"/portal/knowledge/{pub['number']}").text,
    ]
    login(client, "agent")
    pages += [client.get("/console").text, client.get(f"/console/tickets/{inc['number']}").text]
    for text in pages:
        assert "<script>alert" not in text
        assert "&lt;script&gt;" in text


def test_pages_are_not_in_the_openapi_document_and_api_routes_are_detected(app):
    from starlette.requests import Request

    from itsm_ai.ui.api_routes import has_route

    paths = app.openapi()["paths"]
    assert not [p for p in paths if p.startswith(("/portal", "/console", "/login", "/logout"))]
    request = Request({"type": "http", "app": app, "method": "GET", "path": "/", "headers": []})
    assert has_route(request, "GET", "/api/v1/incidents/{ref}")
    assert has_route(request, "PATCH", "/api/v1/incidents/{number}")  # parameter names do not matter
    assert not has_route(request, "DELETE", "/api/v1/users/me")
    assert not has_route(request, "POST", "/api/v1/no-such-feature")


def test_article_page_offers_feedback_when_the_api_takes_it(client, users, make):
    pub = make.published_article(short_description="Map a network drive", text="Open Explorer.")
    login(client, "requester")
    page = client.get(f"/portal/knowledge/{pub['number']}").text
    if "/feedback" in page:
        assert "Was this helpful?" in page and '"helpful": true' in page
    login(client, "agent")
    assert "Open Explorer." in client.get(f"/console/knowledge/{pub['number']}").text


def test_models_page_for_data_scientists_and_admins(client, users, tmp_path, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "models_dir", tmp_path / "no-models")
    login(client, "data_scientist")
    assert "No model has been trained yet" in client.get("/console/models").text
    trainer = pytest.importorskip("itsm_ai.classify.training.trainer")
    from tests.ui.test_e2e import _training_data

    folder = tmp_path / "models"
    monkeypatch.setattr(get_settings(), "models_dir", folder)
    trainer.train_model(_training_data(), target="category", features="tfidf", folder=folder, promote=True)
    for name in ("data_scientist", "admin"):
        login(client, name)
        page = client.get("/console/models")
        assert page.status_code == 200 and "Triage models" in page.text
        assert "category" in page.text and "v0001" in page.text and "current" in page.text
    for name in ("agent", "requester"):
        login(client, name)
        assert client.get("/console/models").status_code == 403


def test_pages_name_an_icon_that_is_served(client):
    # Without one the browser asked for /favicon.ico on every page and logged a 404 in the console.
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/login").text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_every_sideways_scrolling_box_can_be_scrolled_from_the_keyboard():
    # axe's scrollable-region-focusable (serious): a table wider than a phone scrolls inside its box, which a
    # keyboard user reaches only when the box takes focus.
    from pathlib import Path

    import itsm_ai.ui

    templates = Path(itsm_ai.ui.__file__).parent / "templates"
    boxes = [
        (path.name, tag)
        for path in templates.rglob("*.html")
        for tag in re.findall(r'<div class="scroll"[^>]*>', path.read_text(encoding="utf-8"))
    ]
    assert len(boxes) >= 10
    assert [b for b in boxes if 'tabindex="0"' not in b[1] or "aria-label=" not in b[1]] == []
