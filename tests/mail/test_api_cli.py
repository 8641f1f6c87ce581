"""The intake log over the API (staff only) and the `itsm-ai mail` / `attachments` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from itsm_ai.cli import app as cli_app
from tests.api.conftest import API, app, assert_error, client  # noqa: F401
from tests.mail.conftest import make_user
from tests.mail.helpers import message

runner = CliRunner()


def test_the_intake_log_is_for_staff(client, users, installed):  # noqa: F811
    from itsm_ai.mail.flows import take_in

    make_user("alice", "alice@example.com")
    take_in(message(), source="smtp")
    take_in(message(headers={"Auto-Submitted": "auto-replied"}), source="smtp")
    r = client.get(f"{API}/mail/messages", headers=users["agent"].headers)
    assert r.status_code == 200
    assert [m["outcome"] for m in r.json()] == ["ignored", "ticket"]
    only = client.get(f"{API}/mail/messages?outcome=ticket", headers=users["admin"].headers).json()
    assert [m["number"] for m in only] == ["INC0000001"]
    for role in ("requester", "data_scientist"):
        assert_error(client.get(f"{API}/mail/messages", headers=users[role].headers), 403)
    assert_error(client.get(f"{API}/mail/messages"), 401)
    assert_error(
        client.get(f"{API}/mail/messages?outcome=nope", headers=users["agent"].headers), 422, "outcome"
    )
    assert_error(client.get(f"{API}/mail/messages?limit=0", headers=users["agent"].headers), 422, "limit")


def test_ingest_files_and_read_the_log(tmp_path, installed):
    make_user("alice", "alice@example.com")
    path = tmp_path / "one.eml"
    path.write_bytes(message(message_id="<cli-1@example.com>"))
    result = runner.invoke(cli_app, ["mail", "ingest", "--json", str(path)])
    assert result.exit_code == 0, result.output
    assert '"outcome": "ticket"' in result.output and '"number": "INC0000001"' in result.output
    again = runner.invoke(cli_app, ["mail", "ingest", "--json", str(path)])
    assert '"outcome": "duplicate"' in again.output
    log = runner.invoke(cli_app, ["mail", "log", "--limit", "5"])
    assert log.exit_code == 0 and "INC0000001" in log.output


@pytest.mark.parametrize(
    ("args", "message_part"),
    [
        (["mail", "ingest", "/no/such/file.eml"], "no such file"),
        (["mail", "log", "--outcome", "nope"], "--outcome"),
        (["mail", "serve", "--port", "70000"], "--port"),
        (["mail", "poll", "--once"], "ITSM_MAIL_IMAP_HOST"),
    ],
)
def test_bad_input_exits_2_with_the_reason(args, message_part, installed):
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 2, result.output
    assert message_part in result.output


def test_attachments_sweep_command(installed, mail_settings):
    import io
    import os
    import time

    from itsm_ai.attachment import service

    stored = service.storage().put(io.BytesIO(b"orphan"), max_bytes=100)
    old = time.time() - 7200
    os.utime(mail_settings.attachment_dir / stored.key, (old, old))
    result = runner.invoke(cli_app, ["attachments", "sweep"])
    assert result.exit_code == 0 and "removed 1 orphan file" in result.output
    assert not service.storage().exists(stored.key)


def test_intake_processes_limit_pytorch_threads(monkeypatch, mail_settings):
    torch = pytest.importorskip("torch")
    from itsm_ai.mail.smtpd import limit_torch_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(mail_settings, "knowledge_encoder", "model")
        monkeypatch.setattr(mail_settings, "mail_intake_torch_threads", 1)
        limit_torch_threads()
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(mail_settings, "mail_intake_torch_threads", 0)
        torch.set_num_threads(before)
        limit_torch_threads()
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
