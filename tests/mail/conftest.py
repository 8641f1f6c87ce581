"""Mail fixtures: settings for intake, an aiosmtpd mail sink, a dovecot IMAP server, API helpers."""

from __future__ import annotations

import os

import pytest

from tests.api.conftest import Factory, assert_error  # noqa: F401  (shared by the mail tests)
from tests.mail import helpers


@pytest.fixture(autouse=True)
def mail_settings(monkeypatch, tmp_path):
    """Per test: own spool, dead-letter and attachment folders; the hashing encoder (no model load)."""
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval_service

    settings = get_settings()
    monkeypatch.setattr(settings, "knowledge_warm_on_startup", False)
    monkeypatch.setattr(settings, "knowledge_encoder", "hash")
    monkeypatch.setattr(settings, "knowledge_index_dir", tmp_path / "index")
    monkeypatch.setattr(settings, "attachment_dir", tmp_path / "attachments")
    monkeypatch.setattr(settings, "mail_spool_dir", tmp_path / "spool")
    monkeypatch.setattr(settings, "mail_dead_letter_dir", tmp_path / "dead")
    monkeypatch.setattr(settings, "mail_address", "helpdesk@example.com")
    monkeypatch.setattr(settings, "mail_domain", "desk.example.com")
    monkeypatch.setattr(settings, "mail_smtp_host", None)
    retrieval_service.reset_service(None)
    yield settings
    retrieval_service.reset_service(None)


@pytest.fixture
def installed(db):
    """The engine's listeners, as the server and the CLI install them."""
    from itsm_ai.engine import install

    install()
    return db


@pytest.fixture
def sink(mail_settings, monkeypatch):
    """An aiosmtpd server on 127.0.0.1 that keeps what notifications send; settings point at it."""
    controller, box = helpers.start_sink()
    monkeypatch.setattr(mail_settings, "mail_smtp_host", "127.0.0.1")
    monkeypatch.setattr(mail_settings, "mail_smtp_port", box.port)
    monkeypatch.setattr(mail_settings, "mail_smtp_security", "none")
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def dovecot_server():
    """A real dovecot IMAP server (Debian's dovecot-imapd), throw-away config on a free port."""
    if not os.path.exists(helpers.DOVECOT):
        pytest.skip("dovecot is not installed (scripts/test.sh installs dovecot-imapd)")
    server = helpers.start_dovecot()
    yield server
    server.stop()


def make_user(username: str, email: str | None, role: str = "requester"):
    """A user with an e-mail address, straight through the auth service."""
    from itsm_ai.auth import service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.database import get_session
    from tests.conftest import PASSWORD

    with get_session() as session:
        user = service.create(
            db_session=session,
            user_in=UserCreate(username=username, email=email, role=role, password=PASSWORD),
            actor=None,
        )
        return user.id
