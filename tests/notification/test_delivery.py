"""Who is told what, and the outbox worker mailing it over real SMTP (aiosmtpd), with retries and TLS."""

from __future__ import annotations

import random
import ssl
import subprocess
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from itsm_ai.database import get_session, utcnow
from itsm_ai.notification.flows import send_pending
from itsm_ai.notification.models import Notification, NotificationPreference
from itsm_ai.ticket.models import IncidentCreate, ServiceRequestCreate
from tests.mail.conftest import make_user
from tests.mail.helpers import start_sink

pytestmark = pytest.mark.usefixtures("installed")


def notifications() -> list[Notification]:
    with get_session() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def create_incident(caller: str = "alice", actor: str | None = None, **fields):
    from itsm_ai.auth import service as auth_service
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.service import INCIDENT

    with get_session() as s:
        who = auth_service.get_by_username(db_session=s, username=actor) if actor else None
        obj = record_service.create(
            db_session=s,
            spec=INCIDENT,
            data=IncidentCreate.model_validate(
                {"short_description": "VPN drops", "caller": caller, **fields}
            ).model_dump(),
            actor=who,
        )
        return obj.number


def change(number: str, actor: str | None = None, **data):
    from itsm_ai.auth import service as auth_service
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.models import Incident
    from itsm_ai.ticket.service import INCIDENT

    with get_session() as s:
        obj = s.scalar(select(Incident).where(Incident.number == number))
        who = auth_service.get_by_username(db_session=s, username=actor) if actor else None
        record_service.update(
            db_session=s, spec=INCIDENT, obj=obj, data={**data, "version": obj.version}, actor=who
        )


def comment(number: str, author: str, body: str, visibility: str = "public"):
    from itsm_ai.auth import service as auth_service
    from itsm_ai.comment import service as comment_service
    from itsm_ai.comment.models import CommentCreate
    from itsm_ai.ticket.models import Incident
    from itsm_ai.ticket.service import INCIDENT

    with get_session() as s:
        obj = s.scalar(select(Incident).where(Incident.number == number))
        who = auth_service.get_by_username(db_session=s, username=author)
        comment_service.add(
            db_session=s,
            spec=INCIDENT,
            obj=obj,
            comment_in=CommentCreate(body=body, visibility=visibility),
            actor=who,
        )


@pytest.fixture
def people():
    make_user("alice", "alice@example.com")
    make_user("agent", "agent@example.com", role="agent")
    make_user("agent2", "agent2@example.com", role="agent")
    make_user("noaddress", None)


def test_the_requester_gets_the_number_and_the_mail_threads(people, sink):
    number = create_incident()
    assert send_pending() == {"sent": 1, "retrying": 0, "failed": 0}
    [mail] = sink.wait_for(1)
    [row] = notifications()
    assert (
        mail["To"] == "alice@example.com" and number in mail["Subject"] and f"[{number}]" in mail["Subject"]
    )
    assert mail["Message-ID"] == f"<{row.message_id}>" and row.status == "sent" and row.sent_at is not None
    assert mail["Auto-Submitted"] == "auto-generated" and mail["X-Auto-Response-Suppress"] == "All"
    assert number in mail.get_content()
    assert send_pending() == {"sent": 0, "retrying": 0, "failed": 0}  # never twice
    assert len(sink.messages) == 1


def test_public_reply_resolution_and_assignment_reach_the_right_people(people, sink):
    number = create_incident()
    comment(number, "agent", "Please restart the VPN client.")
    comment(number, "agent", "internal musings", visibility="internal")
    change(number, actor="agent2", assigned_to="agent")
    change(number, actor="agent", assigned_to="agent")  # no change: nothing
    comment(number, "alice", "Restarted, still drops.")
    change(number, actor="agent", state="resolved", resolution_code="solved", resolution_notes="New profile.")
    events = [(n.event, n.recipient) for n in notifications()]
    assert events == [
        ("created", "alice@example.com"),
        ("public_reply", "alice@example.com"),
        ("assigned", "agent@example.com"),
        ("requester_reply", "agent@example.com"),
        ("resolved", "alice@example.com"),
    ]
    send_pending()
    mails = {m["Subject"]: m for m in sink.wait_for(5)}
    resolved = next(m for s, m in mails.items() if s.startswith(f"[{number}] Resolved"))
    assert "New profile." in resolved.get_content() and "Reply to this mail" in resolved.get_content()


def test_nobody_is_told_about_their_own_action(people, sink):
    number = create_incident(actor="agent")
    change(number, actor="agent", assigned_to="agent")
    assert [n.event for n in notifications()] == ["created"]


def test_group_assignment_tells_every_member_and_approval_tells_the_approvers(people, sink):
    from itsm_ai.approval import service as approval_service
    from itsm_ai.approval.models import ApprovalRequest
    from itsm_ai.auth import service as auth_service
    from itsm_ai.group.models import Group, group_members
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.service import SERVICE_REQUEST

    with get_session() as s:
        group = Group(name="Network")
        s.add(group)
        s.flush()
        for name in ("agent", "agent2"):
            user = auth_service.get_by_username(db_session=s, username=name)
            s.execute(group_members.insert().values(group_id=group.id, user_id=user.id))
    number = create_incident(assignment_group="Network")
    assigned = [(n.event, n.recipient) for n in notifications() if n.event == "assigned"]
    assert sorted(assigned) == [("assigned", "agent2@example.com"), ("assigned", "agent@example.com")]
    with get_session() as s:
        alice = auth_service.get_by_username(db_session=s, username="alice")
        req = record_service.create(
            db_session=s,
            spec=SERVICE_REQUEST,
            data=ServiceRequestCreate.model_validate(
                {"short_description": "Laptop", "caller": "alice"}
            ).model_dump(),
            actor=alice,
        )
        approval_service.request(
            db_session=s,
            spec=SERVICE_REQUEST,
            obj=req,
            request_in=ApprovalRequest(approvers=["agent2"], groups=[]),
            actor=auth_service.get_by_username(db_session=s, username="agent"),
        )
    approvals = [(n.event, n.recipient, n.number) for n in notifications() if n.event == "approval_requested"]
    assert approvals == [("approval_requested", "agent2@example.com", "REQ0000001")]
    assert number


def test_sla_warning_and_breach_reach_the_assignee(people):
    from itsm_ai.records.events import RecordEvent, publish
    from itsm_ai.ticket.models import Incident

    number = create_incident(assigned_to="agent")
    with get_session() as s:
        obj = s.scalar(select(Incident).where(Incident.number == number))
        for kind in ("sla_warning", "sla_breach"):
            publish(
                s, RecordEvent(kind, "incident", obj, source="sla", changes=[("sla_resolution", None, kind)])
            )
    sla = [(n.event, n.recipient) for n in notifications() if n.event.startswith("sla")]
    assert sla == [("sla_warning", "agent@example.com"), ("sla_breach", "agent@example.com")]
    assert "resolution" in notifications()[-1].subject


def test_opt_out_muted_events_and_missing_addresses_skip_the_mail_but_keep_the_in_app_entry(people, sink):
    with get_session() as s:
        from itsm_ai.auth import service as auth_service

        alice = auth_service.get_by_username(db_session=s, username="alice")
        s.add(NotificationPreference(user_id=alice.id, email_enabled=True, muted_events=["created"]))
    create_incident()
    create_incident(caller="noaddress")
    rows = notifications()
    assert [(r.status, r.skip_reason) for r in rows] == [
        ("skipped", "opted out of e-mail"),
        ("skipped", "no e-mail address"),
    ]
    assert send_pending()["sent"] == 0 and sink.messages == []


def test_a_rolled_back_write_sends_nothing(people, sink):
    from itsm_ai.database import session_factory
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.service import INCIDENT

    session = session_factory()()
    try:
        record_service.create(
            db_session=session,
            spec=INCIDENT,
            data=IncidentCreate.model_validate({"short_description": "x", "caller": "alice"}).model_dump(),
            actor=None,
        )
        session.flush()
        assert session.scalars(select(Notification)).all()  # written in the transaction...
        session.rollback()  # ...and gone with it
    finally:
        session.close()
    assert notifications() == [] and send_pending()["sent"] == 0


def test_a_refusing_relay_means_retries_with_backoff_then_failure(people, sink, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "notification_max_attempts", 3)
    sink.refuse = True
    create_incident()
    now = utcnow()
    rng = random.Random(1)
    assert send_pending(now=now, rng=rng) == {"sent": 0, "retrying": 1, "failed": 0}
    [row] = notifications()
    first_wait = (row.next_attempt_at - now).total_seconds()
    assert (
        mail_settings.notification_backoff_seconds
        <= first_wait
        <= mail_settings.notification_backoff_seconds * 1.2
    )
    assert "451" in row.last_error and row.attempts == 1
    assert send_pending(now=now, rng=rng)["retrying"] == 0  # not due yet
    later = row.next_attempt_at + timedelta(seconds=1)
    assert send_pending(now=later, rng=rng)["retrying"] == 1
    second_wait = (notifications()[0].next_attempt_at - later).total_seconds()
    assert second_wait >= first_wait * 1.6  # exponential
    sink.refuse = False
    assert send_pending(now=later + timedelta(hours=2), rng=rng) == {"sent": 1, "retrying": 0, "failed": 0}
    assert notifications()[0].attempts == 3


def test_an_unreachable_relay_fails_after_the_last_attempt(people, monkeypatch, mail_settings):
    from tests.mail.helpers import free_port

    monkeypatch.setattr(mail_settings, "mail_smtp_host", "127.0.0.1")
    monkeypatch.setattr(mail_settings, "mail_smtp_port", free_port())
    monkeypatch.setattr(mail_settings, "notification_max_attempts", 1)
    create_incident()
    assert send_pending() == {"sent": 0, "retrying": 0, "failed": 1}
    assert "cannot reach the relay" in notifications()[0].last_error


def test_parallel_workers_send_each_notification_once(people, sink):
    for _ in range(6):
        create_incident()
    threads = [threading.Thread(target=send_pending) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.wait_for(6)
    assert sorted(m["Message-ID"] for m in sink.messages) == sorted(
        f"<{n.message_id}>" for n in notifications()
    )
    assert all(n.status == "sent" for n in notifications())


@pytest.fixture
def tls_files(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_implicit_tls_with_login(people, tls_files, monkeypatch, mail_settings, security):
    from aiosmtpd.smtp import AuthResult

    key, cert = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"relay-pw")

    extra = (
        {"require_starttls": True, "tls_context": context}
        if security == "starttls"
        else {"ssl_context": context}
    )
    # Over implicit TLS aiosmtpd cannot tell the socket is encrypted, so it must not insist on STARTTLS first.
    controller, box = start_sink(
        authenticator=authenticator, auth_require_tls=security == "starttls", **extra
    )
    try:
        for name, value in {
            "mail_smtp_host": "127.0.0.1",
            "mail_smtp_port": box.port,
            "mail_smtp_security": security,
            "mail_smtp_user": "desk",
            "mail_smtp_password": "relay-pw",
            "mail_smtp_ca_file": cert,
        }.items():
            monkeypatch.setattr(mail_settings, name, value)
        create_incident()
        assert send_pending()["sent"] == 1, notifications()[0].last_error
        assert box.wait_for(1) and logins == [(b"desk", b"relay-pw")]
    finally:
        controller.stop()
