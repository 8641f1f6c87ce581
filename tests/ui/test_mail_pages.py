"""Pages of the mail channel over TestClient: files on ticket pages, notification lists, new-ticket form."""

from __future__ import annotations

import io

import pytest

from tests.api.conftest import API
from tests.mail.helpers import PNG
from tests.ui.conftest import login


@pytest.fixture(autouse=True)
def _settings(monkeypatch, tmp_path):
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval_service

    monkeypatch.setattr(get_settings(), "knowledge_encoder", "hash")
    monkeypatch.setattr(get_settings(), "attachment_dir", tmp_path / "files")
    retrieval_service.reset_service(None)
    yield
    retrieval_service.reset_service(None)


def _upload(client, user, number, name, **form):
    files = {"file": (name, io.BytesIO(PNG), "image/png")}
    r = client.post(f"{API}/incidents/{number}/attachments", files=files, data=form, headers=user.headers)
    assert r.status_code == 201, r.text


def test_ticket_pages_list_files_and_hide_work_note_files_from_the_requester(client, users, make):
    number = make.incident(as_="requester")["number"]
    _upload(client, users["requester"], number, "public-shot.png")
    _upload(client, users["agent"], number, "server-log.png", visibility="internal")
    login(client, "requester")
    page = client.get(f"/portal/tickets/{number}").text
    assert "public-shot.png" in page and "server-log.png" not in page
    assert 'data-files="/api/v1/incidents/' in page and 'type="file"' in page
    login(client, "agent")
    page = client.get(f"/console/tickets/{number}").text
    assert "public-shot.png" in page and "server-log.png" in page and "internal" in page


@pytest.mark.parametrize(
    ("username", "path"), [("requester", "/portal/notifications"), ("agent", "/console/notifications")]
)
def test_notification_pages_show_the_users_own_list(client, users, make, username, path):
    make.incident(as_="requester", short_description="Keyboard missing keys")
    make.incident(as_="agent", assigned_to="agent2", short_description="Other")
    login(client, username)
    page = client.get(path)
    assert page.status_code == 200
    if username == "requester":
        assert "Keyboard missing keys" in page.text and "Other" not in page.text
    assert "/api/v1/notifications/preferences" in page.text


def test_the_new_ticket_form_is_for_requesters(client, users):
    login(client, "requester")
    page = client.get("/portal/new")
    assert page.status_code == 200 and 'data-url="/api/v1/incidents"' in page.text
    login(client, "agent")
    assert client.get("/portal/new").status_code == 403
    login(client, "requester")
    assert client.get("/console/notifications").status_code == 403
