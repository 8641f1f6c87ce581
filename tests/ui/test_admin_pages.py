"""Admin and model-operations pages over TestClient: who may open them (others get the HTML 403 page),
unknown /console and /portal paths answer the HTML 404 page, each page shows what the store holds, escapes
user text, and its forms point at the JSON API the change goes through."""

from __future__ import annotations

import pytest

from tests.api.conftest import API
from tests.ui.conftest import login

ADMIN_PAGES = (
    "/console/users",
    "/console/groups",
    "/console/sla",
    "/console/rules",
    "/console/webhooks",
    "/console/priority",
)


@pytest.mark.parametrize("page", ADMIN_PAGES)
@pytest.mark.parametrize("username", ["agent", "data_scientist", "requester"])
def test_admin_pages_refuse_other_roles_with_the_html_403_page(client, users, page, username):
    login(client, username)
    response = client.get(page)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Not allowed" in response.text


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_need_a_login(client, page):
    client.cookies.clear()
    response = client.get(page, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_render_for_an_admin(client, users, page):
    login(client, "admin")
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert 'aria-current="page"' in response.text and 'class="subnav"' in response.text


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("admin", "/console/nothing-here"),
        ("agent", "/console/users/extra/deep"),
        ("requester", "/portal/nothing"),
        ("requester", "/portal/tickets/INC0000001/zzz"),
    ],
)
def test_unknown_console_and_portal_paths_answer_the_html_404_page(client, users, username, path):
    login(client, username)
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text and '"error"' not in response.text


def test_users_page_lists_searches_and_escapes(client, users, make):
    make.user(username="zed.evil", full_name="<script>alert(1)</script>")
    login(client, "admin")
    page = client.get("/console/users?q=zed")
    # The search keeps one row; every active name is still offered to the manager picker.
    assert 'id="user-zed.evil"' in page.text and 'id="user-agent2"' not in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    assert 'data-url="/api/v1/users/zed.evil"' in page.text and "Deactivate" in page.text
    bad = client.get("/console/users?offset=-1")
    assert bad.status_code == 422 and "offset" in bad.text


def test_groups_page_shows_members(client, users, make):
    make.group(name="Network Ops", members=["agent", "agent2"])
    login(client, "admin")
    page = client.get("/console/groups")
    assert "Network Ops" in page.text and 'value="agent, agent2"' in page.text


def test_sla_rules_and_webhooks_pages_show_the_store(client, users):
    h = users["admin"].headers
    r = client.post(
        f"{API}/sla/policies",
        json={"name": "P1 fast", "response_target": 15, "resolution_target": 240, "condition": None},
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/rules",
        json={
            "name": "VPN to Network",
            "record_type": "incident",
            "trigger": "created",
            "conditions": {"field": "short_description", "op": "contains", "value": "vpn"},
            "actions": [{"type": "set_field", "field": "category", "value": "network"}],
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    login(client, "admin")
    sla = client.get("/console/sla").text
    assert "P1 fast" in sla and "4h 0m" in sla and "15m" in sla
    rules = client.get("/console/rules").text
    assert "VPN to Network" in rules and f'data-dry-run="/api/v1/rules/{rule_id}/dry-run"' in rules
    assert 'data-preview-url="/api/v1/rules/dry-run"' in rules
    assert "webhook" in client.get("/console/webhooks").text.lower()
    assert client.get("/console/webhooks/999999").status_code == 404


def test_priority_page_shows_the_matrix_it_edits(client, users):
    login(client, "admin")
    page = client.get("/console/priority").text
    # The default matrix: high impact and high urgency is priority 1 (critical).
    assert 'name="matrix.1.1"' in page and page.count('name="matrix.') == 9
    cell = page.split('name="matrix.1.1"')[1].split("</select>")[0]
    assert 'value="1" selected' in cell


def test_models_page_for_data_scientists_only(client, users):
    login(client, "agent")
    assert client.get("/console/models").status_code == 403
    login(client, "data_scientist")
    page = client.get("/console/models")
    assert page.status_code == 200
    assert 'data-url="/api/v1/models/train"' in page.text


def test_reliability_svg_escapes_and_draws_each_version():
    from itsm_ai.ui.model_ops import reliability_svg

    bins = [
        {"mean_confidence": 0.55, "accuracy": 0.5, "count": 4},
        {"mean_confidence": 0.95, "accuracy": 0.9, "count": 20},
        {"mean_confidence": None, "accuracy": None, "count": 0},
    ]
    svg = str(reliability_svg([("v1<b>", bins), ("v2", bins[:1])]))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<b>" not in svg and "v1&lt;b&gt;" in svg
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3


def test_model_page_bad_input_answers_html_errors(client, users, tmp_path, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "models_dir", tmp_path)
    login(client, "data_scientist")
    missing = client.get("/console/models/nothing")
    assert missing.status_code == 404 and "Not found" in missing.text
    bad = client.get("/console/models/category?a=../../etc")
    assert bad.status_code == 422 and "a" in bad.text and bad.headers["content-type"].startswith("text/html")
    login(client, "requester")
    assert client.get("/console/models/category").status_code == 403
