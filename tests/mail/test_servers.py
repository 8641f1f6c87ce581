"""Against real servers: the aiosmtpd receiver (`mail serve`) and a dovecot mailbox polled over IMAP."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from sqlalchemy import func, select

from itsm_ai.database import get_session
from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.mail.models import MailMessage
from itsm_ai.ticket.models import Incident
from tests.mail.conftest import make_user
from tests.mail.helpers import PNG, free_port, message

pytestmark = pytest.mark.usefixtures("installed")


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def intake_rows() -> list[MailMessage]:
    with get_session() as s:
        return list(s.scalars(select(MailMessage).order_by(MailMessage.id)))


@pytest.fixture
def receiver():
    """`mail serve` in a thread on a free port of 127.0.0.1."""
    from itsm_ai.mail.smtpd import serve

    port, stop, ready = free_port(), threading.Event(), threading.Event()
    totals: dict = {}
    thread = threading.Thread(
        target=lambda: totals.update(serve("127.0.0.1", port, stop=stop, on_ready=lambda _c: ready.set())),
        daemon=True,
    )
    thread.start()
    assert ready.wait(15), "the receiver did not start"
    yield port
    stop.set()
    thread.join(30)


def test_mail_sent_over_smtp_becomes_a_ticket_with_its_screenshot(receiver, mail_settings):
    make_user("alice", "alice@example.com")
    raw = message(message_id="<smtp-1@example.com>", attachments=[("screen.png", "image/png", PNG)])
    with smtplib.SMTP("127.0.0.1", receiver, timeout=10) as client:
        refused = client.sendmail("alice@example.com", ["helpdesk@example.com"], raw)
    assert refused == {}
    assert wait_until(lambda: len(intake_rows()) == 1)
    [row] = intake_rows()
    assert row.outcome == IntakeOutcome.ticket and row.source == "smtp" and row.number == "INC0000001"
    assert list(mail_settings.mail_spool_dir.glob("*.eml")) == []  # taken in, then removed from the spool


def test_parallel_senders_lose_nothing_and_duplicate_nothing(receiver):
    make_user("alice", "alice@example.com")
    raws = [message(message_id=f"<par-{i}@example.com>", subject=f"Issue {i}") for i in range(12)]

    def send(chunk):
        with smtplib.SMTP("127.0.0.1", receiver, timeout=10) as client:
            for raw in chunk:
                client.sendmail("alice@example.com", ["helpdesk@example.com"], raw)
                client.sendmail("alice@example.com", ["helpdesk@example.com"], raw)  # a redelivery

    threads = [threading.Thread(target=send, args=(raws[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wait_until(lambda: len(intake_rows()) == 12)
    time.sleep(0.5)
    with get_session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 12
    assert sorted(r.message_id for r in intake_rows()) == sorted(f"par-{i}@example.com" for i in range(12))


def test_a_message_over_twice_the_limit_is_refused_in_the_smtp_dialogue(receiver, monkeypatch, mail_settings):
    # The controller read the limit at start-up (30 MiB by default): a 61 MiB message is refused with 552.
    big = message(body="x" * (61 * 1024 * 1024))
    with smtplib.SMTP("127.0.0.1", receiver, timeout=30) as client:
        with pytest.raises(smtplib.SMTPException) as info:
            client.sendmail("alice@example.com", ["helpdesk@example.com"], big)
    assert "552" in str(info.value) or isinstance(info.value, smtplib.SMTPServerDisconnected)
    assert intake_rows() == []


def test_leftover_spool_files_are_taken_in_at_start_up(mail_settings):
    from itsm_ai.mail.smtpd import serve
    from itsm_ai.mail.spool import Spool

    make_user("alice", "alice@example.com")
    Spool().put(message(message_id="<left@example.com>"), recipients=["helpdesk@example.com"], mail_from=None)
    stop = threading.Event()
    port = free_port()
    thread = threading.Thread(target=serve, args=("127.0.0.1", port), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: len(intake_rows()) == 1)
    finally:
        stop.set()
        thread.join(30)
    assert intake_rows()[0].message_id == "left@example.com"


# -- IMAP ----------------------------------------------------------------------------------------------------


@pytest.fixture
def mailbox(dovecot_server, mail_settings, monkeypatch):
    """The dovecot mailbox emptied, and the settings pointing at it (plain IMAP on 127.0.0.1)."""
    import imaplib

    client = imaplib.IMAP4("127.0.0.1", dovecot_server.port)
    client.login(dovecot_server.user, dovecot_server.password)
    for folder in ("INBOX", "Processed", '"Dead Letter"'):
        status, data = client.select(folder)
        if status == "OK" and int(data[0]):
            client.store("1:*", "+FLAGS", "\\Deleted")
            client.expunge()
    client.logout()
    for name, value in {
        "mail_imap_host": "127.0.0.1",
        "mail_imap_port": dovecot_server.port,
        "mail_imap_ssl": False,
        "mail_imap_starttls": False,
        "mail_imap_user": dovecot_server.user,
        "mail_imap_password": dovecot_server.password,
    }.items():
        monkeypatch.setattr(mail_settings, name, value)
    return dovecot_server


def test_the_poller_takes_in_the_mailbox_and_files_each_message(mailbox):
    from itsm_ai.mail.imap import poll_once

    make_user("alice", "alice@example.com")
    mailbox.deliver(message(message_id="<imap-1@example.com>", attachments=[("s.png", "image/png", PNG)]))
    mailbox.deliver(message(message_id="<imap-2@example.com>", headers={"Auto-Submitted": "auto-replied"}))
    mailbox.deliver(b"Subject: no sender at all\r\n\r\nbody")
    counts = poll_once()
    assert counts == {IntakeOutcome.ticket: 1, IntakeOutcome.ignored: 1, IntakeOutcome.dead_letter: 1}
    assert mailbox.count("INBOX") == 0
    assert mailbox.count("Processed") == 2 and mailbox.count("Dead Letter") == 1
    assert poll_once() == {}
    [ticket] = [r for r in intake_rows() if r.outcome == "ticket"]
    assert ticket.source == "imap" and ticket.message_id == "imap-1@example.com"


def test_a_poll_interrupted_before_the_move_is_not_taken_in_twice(mailbox, monkeypatch):
    from imap_tools import MailBoxUnencrypted

    from itsm_ai.mail.imap import poll_once

    make_user("alice", "alice@example.com")
    mailbox.deliver(message(message_id="<crash@example.com>"))
    real_move = MailBoxUnencrypted.move

    def dying_move(self, *a, **kw):
        raise ConnectionResetError("killed between the commit and the move")

    monkeypatch.setattr(MailBoxUnencrypted, "move", dying_move)
    with pytest.raises(ConnectionResetError):
        poll_once()
    monkeypatch.setattr(MailBoxUnencrypted, "move", real_move)
    assert poll_once() == {IntakeOutcome.duplicate: 1}
    with get_session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
    assert mailbox.count("INBOX") == 0


def test_the_poll_job_says_when_imap_is_not_configured(mail_settings):
    from itsm_ai.mail.imap import poll_job

    assert poll_job() == {"skipped": "IMAP polling not configured"}
