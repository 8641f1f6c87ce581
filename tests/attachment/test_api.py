"""Attachment endpoints: upload, list, download, delete, with the record's access, limits and deny list."""

from __future__ import annotations

import hashlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.conftest import API, assert_error
from tests.mail.helpers import PNG


def upload(client, user, path, data=PNG, name="screen.png", ctype="image/png", **form):
    files = {"file": (name, io.BytesIO(data), ctype)}
    return client.post(f"{API}/{path}/attachments", files=files, data=form, headers=user.headers)


@pytest.fixture
def ticket(factory):
    return factory.incident(as_="requester")


def test_upload_list_download_as_the_requester(client, users, ticket):
    r = upload(
        client, users["requester"], f"incidents/{ticket['number']}", name="notes.txt", ctype="text/plain"
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["content_type"] == "image/png"  # sniffed, the client's text/plain ignored
    assert item["size"] == len(PNG) and item["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert item["uploaded_by"] == "requester" and item["visibility"] == "public"
    assert r.headers["Location"] == item["url"] == f"{API}/attachments/{item['id']}"
    listed = client.get(f"{API}/incidents/{ticket['number']}/attachments", headers=users["requester"].headers)
    assert [a["id"] for a in listed.json()] == [item["id"]]
    d = client.get(item["url"], headers=users["requester"].headers)
    assert d.status_code == 200 and d.content == PNG
    assert d.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
    assert d.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in d.headers["content-security-policy"]
    assert d.headers["content-type"] == "image/png"


def test_uploaded_html_is_never_rendered_inline(client, users, ticket):
    page = b"<html><body><script>fetch('/api/v1/users')</script></body></html>"
    item = upload(
        client, users["requester"], f"incidents/{ticket['number']}", data=page, name="x.html"
    ).json()
    d = client.get(item["url"], headers=users["agent"].headers)
    assert d.headers["content-type"].startswith("text/html")
    assert d.headers["content-disposition"].startswith("attachment;")
    assert d.headers["x-content-type-options"] == "nosniff"


def test_unicode_names_survive_in_the_rfc5987_form(client, users, ticket):
    item = upload(
        client, users["requester"], f"incidents/{ticket['number']}", name="Ошибка экрана.png"
    ).json()
    assert item["filename"] == "Ошибка экрана.png"
    d = client.get(item["url"], headers=users["requester"].headers)
    assert "filename*=UTF-8''%D0%9E%D1%88" in d.headers["content-disposition"]


def test_access_is_exactly_the_tickets(client, users, ticket):
    item = upload(client, users["requester"], f"incidents/{ticket['number']}").json()
    path = f"{API}/incidents/{ticket['number']}/attachments"
    assert_error(client.get(path, headers=users["requester2"].headers), 404)
    assert_error(client.get(item["url"], headers=users["requester2"].headers), 404)
    assert_error(upload(client, users["requester2"], f"incidents/{ticket['number']}"), 404)
    assert client.get(item["url"], headers=users["data_scientist"].headers).status_code == 200
    assert_error(upload(client, users["data_scientist"], f"incidents/{ticket['number']}"), 403)
    assert_error(client.get(item["url"]), 401)
    assert_error(client.get(path), 401)
    assert client.get(path, headers=users["agent"].headers).status_code == 200


def test_work_note_attachments_stay_hidden_from_the_requester(client, users, ticket):
    number = ticket["number"]
    note = client.post(
        f"{API}/incidents/{number}/comments",
        json={"body": "log from the server", "visibility": "internal"},
        headers=users["agent"].headers,
    ).json()
    internal = upload(client, users["agent"], f"incidents/{number}", comment_id=str(note["id"])).json()
    flagged = upload(client, users["agent"], f"incidents/{number}", visibility="internal").json()
    public = upload(client, users["agent"], f"incidents/{number}").json()
    assert internal["visibility"] == flagged["visibility"] == "internal"
    seen = client.get(f"{API}/incidents/{number}/attachments", headers=users["requester"].headers).json()
    assert [a["id"] for a in seen] == [public["id"]]
    for hidden in (internal, flagged):
        assert_error(client.get(hidden["url"], headers=users["requester"].headers), 404)
        assert client.get(hidden["url"], headers=users["agent"].headers).status_code == 200
    assert_error(
        upload(client, users["requester"], f"incidents/{number}", visibility="internal"), 403, "visibility"
    )


def test_bad_input_names_the_field(client, users, ticket):
    path = f"{API}/incidents/{ticket['number']}/attachments"
    h = users["requester"].headers
    assert_error(client.post(path, json={"file": "x"}, headers=h), 422, "file")
    assert_error(client.post(path, files={"other": ("a", b"x")}, headers=h), 422, "file")
    assert_error(
        upload(client, users["requester"], f"incidents/{ticket['number']}", visibility="secret"),
        422,
        "visibility",
    )
    assert_error(
        upload(client, users["requester"], f"incidents/{ticket['number']}", comment_id="x1"),
        422,
        "comment_id",
    )
    assert_error(
        upload(client, users["requester"], f"incidents/{ticket['number']}", comment_id="999"),
        422,
        "comment_id",
    )
    assert_error(upload(client, users["requester"], "incidents/INC9999999"), 404)
    assert_error(client.get(f"{API}/attachments/abc", headers=h), 422)
    assert_error(client.get(f"{API}/attachments/424242", headers=h), 404)


def error_of(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00" + b"\0" * 100, "invoice.pdf"),
        (b"harmless text", "tool.exe"),
        (b"#!/bin/bash\necho pwned\n", "notes.txt"),
        (b"Set x = CreateObject(1)", "macro.VBS"),
    ],
)
def test_executables_are_refused(client, users, ticket, data, name):
    err = error_of(
        upload(client, users["requester"], f"incidents/{ticket['number']}", data=data, name=name), 415
    )
    assert err["code"] == "unsupported_media_type" and err["fields"][0]["field"] == "file"
    assert (
        client.get(f"{API}/incidents/{ticket['number']}/attachments", headers=users["agent"].headers).json()
        == []
    )


def test_over_the_file_limit_is_413_naming_the_limit(client, users, ticket, monkeypatch, storage_dir):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "attachment_max_file_bytes", 1000)
    err = error_of(upload(client, users["requester"], f"incidents/{ticket['number']}", data=b"x" * 5000), 413)
    assert err["limit"] == "attachment_max_file_bytes" and "ITSM_ATTACHMENT_MAX_FILE_BYTES" in err["message"]
    big = b"y" * 200_000  # declared length over the limit: refused before the body is read
    err = error_of(upload(client, users["requester"], f"incidents/{ticket['number']}", data=big), 413)
    assert err["limit"] == "attachment_max_file_bytes"
    assert [p for p in storage_dir.rglob("*") if p.is_file()] == []


def test_over_the_record_limit_is_413_naming_the_limit(client, users, ticket, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setattr(get_settings(), "attachment_max_record_bytes", 2500)
    path = f"incidents/{ticket['number']}"
    assert upload(client, users["requester"], path, data=b"a" * 2000, name="a.txt").status_code == 201
    err = error_of(upload(client, users["requester"], path, data=b"b" * 1000, name="b.txt"), 413)
    assert err["limit"] == "attachment_max_record_bytes" and err["used_bytes"] == 2000
    assert "ITSM_ATTACHMENT_MAX_RECORD_BYTES" in err["message"]


def test_delete_is_audited_and_removes_the_bytes(client, users, ticket, storage_dir):
    item = upload(client, users["requester"], f"incidents/{ticket['number']}").json()
    agent_file = upload(client, users["agent"], f"incidents/{ticket['number']}", name="agent.png").json()
    assert_error(client.delete(agent_file["url"], headers=users["requester"].headers), 403)
    assert_error(client.delete(item["url"], headers=users["requester2"].headers), 404)
    assert_error(client.delete(item["url"], headers=users["data_scientist"].headers), 403)
    assert client.delete(item["url"], headers=users["requester"].headers).status_code == 204  # own upload
    assert client.delete(agent_file["url"], headers=users["agent"].headers).status_code == 204
    assert_error(client.get(item["url"], headers=users["agent"].headers), 404)
    assert [p for p in storage_dir.rglob("*") if p.is_file()] == []
    audit = client.get(f"{API}/incidents/{ticket['number']}/audit", headers=users["agent"].headers).json()
    actions = [e["action"] for e in audit]
    assert actions.count("attachment_added") == 2 and actions.count("attachment_deleted") == 2


def test_every_ticket_type_and_articles_take_files(client, users, factory):
    for path, record in (
        ("problems", factory.problem()),
        ("changes", factory.change()),
        ("requests", factory.request(as_="requester")),
    ):
        assert upload(client, users["agent"], f"{path}/{record['number']}").status_code == 201
    draft = factory.article()
    published = factory.published_article(short_description="VPN how-to")
    for art in (draft, published):
        assert upload(client, users["agent"], f"knowledge/{art['number']}").status_code == 201
    assert_error(upload(client, users["requester"], f"knowledge/{published['number']}"), 403)
    seen = client.get(
        f"{API}/knowledge/{published['number']}/attachments", headers=users["requester"].headers
    )
    assert seen.status_code == 200 and len(seen.json()) == 1
    assert_error(
        client.get(f"{API}/knowledge/{draft['number']}/attachments", headers=users["requester"].headers), 404
    )


def test_parallel_uploads_to_one_ticket(client, users, ticket):
    def send(i):
        return upload(
            client,
            users["requester"],
            f"incidents/{ticket['number']}",
            data=PNG + bytes([i]),
            name=f"{i}.png",
        )

    with ThreadPoolExecutor(4) as pool:
        codes = [r.status_code for r in pool.map(send, range(8))]
    assert codes == [201] * 8
    listed = client.get(
        f"{API}/incidents/{ticket['number']}/attachments", headers=users["agent"].headers
    ).json()
    assert len({a["sha256"] for a in listed}) == 8


def test_orphan_files_are_swept_and_rows_keep_theirs(client, users, ticket, storage_dir):
    from itsm_ai.attachment import service
    from itsm_ai.database import get_session

    item = upload(client, users["requester"], f"incidents/{ticket['number']}").json()
    orphan = service.storage().put(io.BytesIO(b"crashed before the commit"), max_bytes=1000)
    (storage_dir / "tmp").mkdir(exist_ok=True)
    (storage_dir / "tmp" / "x.part").write_bytes(b"half")
    old = time.time() - 3 * 3600
    for path in storage_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))
    fresh = service.storage().put(io.BytesIO(b"an upload still in flight"), max_bytes=1000)
    with get_session() as s:
        counts = service.sweep_orphans(db_session=s)
    assert counts == {"files": 1, "partial": 1, "kept": 1}
    assert not service.storage().exists(orphan.key) and service.storage().exists(fresh.key)
    assert client.get(item["url"], headers=users["requester"].headers).content == PNG


def test_a_crash_mid_upload_leaves_no_row_and_no_file(client, users, ticket, storage_dir, monkeypatch):
    from itsm_ai.attachment import service

    def crash(*a, **kw):
        raise RuntimeError("power cut")

    monkeypatch.setattr(service.audit_service, "record_event", crash)
    r = upload(client, users["requester"], f"incidents/{ticket['number']}")
    assert r.status_code == 500
    monkeypatch.undo()
    assert (
        client.get(f"{API}/incidents/{ticket['number']}/attachments", headers=users["agent"].headers).json()
        == []
    )
    assert [p for p in storage_dir.rglob("*") if p.is_file()] == []
