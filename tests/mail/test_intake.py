"""Taking mail in against the real store: tickets, threaded replies, loops, limits, dead letters."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from itsm_ai.attachment.models import Attachment
from itsm_ai.comment.models import Comment
from itsm_ai.database import get_session
from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.mail.flows import TransientError, take_in
from itsm_ai.mail.models import MailMessage
from itsm_ai.notification.models import Notification
from itsm_ai.ticket.models import Incident, ServiceRequest
from tests.mail.conftest import make_user
from tests.mail.helpers import PNG, message

pytestmark = pytest.mark.usefixtures("installed")


def incident(number: str) -> Incident:
    with get_session() as s:
        return s.scalar(select(Incident).where(Incident.number == number))


def count(model, *where) -> int:
    with get_session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def rows(model, *where, order=None):
    with get_session() as s:
        return list(s.scalars(select(model).where(*where).order_by(order or model.id)))


@pytest.fixture
def alice():
    make_user("alice", "alice@example.com")
    return "alice@example.com"


def test_a_new_mail_opens_an_incident_with_its_files_and_queues_the_acknowledgement(alice):
    raw = message(
        sender="Alice <Alice@Example.com>",
        message_id="<first@example.com>",
        attachments=[("screen.png", "image/png", PNG)],
    )
    result = take_in(raw, source="smtp")
    assert result.outcome == IntakeOutcome.ticket and result.number == "INC0000001"
    inc = incident("INC0000001")
    assert inc.short_description == "Printer on floor 3 is jammed"
    assert "error E-42" in inc.description and inc.caller_ref.username == "alice"
    files = rows(Attachment, Attachment.record_id == inc.id)
    assert [(f.filename, f.content_type, f.visibility) for f in files] == [
        ("screen.png", "image/png", "public"),
        ("original-message.eml", "message/rfc822", "internal"),
    ]
    [log] = rows(MailMessage)
    assert (log.message_id, log.outcome, log.number, log.source) == (
        "first@example.com",
        "ticket",
        inc.number,
        "smtp",
    )
    [ack] = rows(Notification)
    assert ack.event == "created" and ack.user_id == inc.caller_id and ack.in_reply_to == "first@example.com"
    assert "[INC0000001]" in ack.subject and ack.message_id.endswith("@desk.example.com")
    assert ack.status == "skipped" and "SMTP" in ack.skip_reason


def test_the_same_message_twice_is_one_ticket(alice):
    raw = message(message_id="<twice@example.com>")
    assert take_in(raw, source="smtp").outcome == IntakeOutcome.ticket
    assert take_in(raw, source="imap").outcome == IntakeOutcome.duplicate
    assert count(Incident) == 1 and count(MailMessage) == 1


def test_unknown_sender_gets_a_requester_account(mail_settings):
    result = take_in(message(sender="Bob Newman <bob@new.example.org>"), source="smtp")
    assert result.outcome == IntakeOutcome.ticket
    inc = incident(result.number)
    assert inc.caller_ref.email == "bob@new.example.org" and inc.caller_ref.full_name == "Bob Newman"
    assert inc.caller_ref.role == "requester" and inc.caller_ref.hashed_password is None


def test_unknown_sender_refused_with_a_reply(sink, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "mail_unknown_senders", "refuse")
    result = take_in(message(sender="stranger@elsewhere.example", subject="Let me in"), source="smtp")
    assert result.outcome == IntakeOutcome.refused and "unknown sender" in result.reason
    assert count(Incident) == 0
    [reply] = rows(Notification)
    assert reply.event == "refused_sender" and reply.recipient == "stranger@elsewhere.example"
    assert reply.status == "pending" and "Let me in" in reply.body


def test_refusal_is_not_sent_to_an_auto_submitted_stranger(sink, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "mail_unknown_senders", "refuse")
    monkeypatch.setattr(mail_settings, "mail_bulk_creates_tickets", True)
    result = take_in(message(sender="list@elsewhere.example", headers={"Precedence": "list"}), source="smtp")
    assert result.outcome == IntakeOutcome.refused
    assert [n.status for n in rows(Notification)] == ["skipped"]


def test_reply_with_the_tag_threads_as_a_public_comment_without_the_quote(alice):
    first = take_in(message(message_id="<q1@example.com>"), source="smtp")
    body = "It jams again after lunch.\n\nOn Tue, Dec 1, 2026 at 10:00 AM Desk wrote:\n> Printer on floor 3\n"
    reply = message(
        subject=f"Re: [{first.number}] Received: Printer",
        body=body,
        attachments=[("jam.png", "image/png", PNG)],
    )
    result = take_in(reply, source="smtp")
    assert result.outcome == IntakeOutcome.comment and result.number == first.number
    [comment] = rows(Comment)
    assert comment.body == "It jams again after lunch." and comment.visibility == "public"
    files = rows(Attachment, Attachment.comment_id == comment.id)
    assert [f.filename for f in files] == ["jam.png"]
    assert count(Incident) == 1


def test_reply_threads_by_in_reply_to_the_notification_message_id(alice):
    first = take_in(message(message_id="<q2@example.com>"), source="smtp")
    [ack] = rows(Notification)
    reply = message(subject="Re: your printer", in_reply_to=f"<{ack.message_id}>", body="Thanks, it works.")
    result = take_in(reply, source="smtp")
    assert result.outcome == IntakeOutcome.comment and result.number == first.number


def test_reply_threads_by_references_to_the_first_mail(alice):
    first = take_in(message(message_id="<root@example.com>"), source="smtp")
    reply = message(subject="Re: Printer", references="<other@x> <root@example.com>", body="More detail.")
    assert take_in(reply, source="smtp").number == first.number


def test_a_tag_of_someone_elses_ticket_opens_a_new_ticket_instead(alice):
    first = take_in(message(), source="smtp")
    make_user("mallory", "mallory@example.com")
    other = take_in(message(sender="mallory@example.com", subject=f"Re: [{first.number}] x"), source="smtp")
    assert other.outcome == IntakeOutcome.ticket and other.number != first.number
    assert count(Comment) == 0


def _set_state(number: str, state: str, **fields) -> None:
    from itsm_ai.records import service as record_service
    from itsm_ai.ticket.service import INCIDENT

    with get_session() as s:
        obj = s.scalar(select(Incident).where(Incident.number == number))
        record_service.update(
            db_session=s,
            spec=INCIDENT,
            obj=obj,
            data={"state": state, "version": obj.version, **fields},
            actor=None,
        )


def test_reply_to_a_closed_ticket_opens_a_linked_follow_up(alice):
    first = take_in(message(), source="smtp")
    _set_state(first.number, "resolved", resolution_code="solved", resolution_notes="Cleared the jam.")
    _set_state(first.number, "closed")
    result = take_in(message(subject=f"Re: [{first.number}] Resolved", body="It jams again!"), source="smtp")
    assert result.outcome == IntakeOutcome.follow_up and result.number != first.number
    new = incident(result.number)
    assert (
        new.description.startswith(f"Follow-up to {first.number} (closed)")
        and "It jams again!" in new.description
    )
    from itsm_ai.audit.models import AuditEvent

    notes = rows(AuditEvent, AuditEvent.action.in_(["follow_up", "follow_up_of"]))
    assert {(n.action, n.new_value) for n in notes} == {
        ("follow_up", new.number),
        ("follow_up_of", first.number),
    }
    assert incident(first.number).state == "closed"


def test_reply_to_a_resolved_ticket_reopens_it(alice):
    first = take_in(message(), source="smtp")
    _set_state(first.number, "resolved", resolution_code="solved", resolution_notes="Cleared the jam.")
    result = take_in(message(subject=f"Re: [{first.number}] Resolved", body="Not fixed."), source="smtp")
    assert result.outcome == IntakeOutcome.comment
    assert incident(first.number).state == "in_progress" and incident(first.number).reopen_count == 1


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"headers": {"Auto-Submitted": "auto-replied"}}, "auto_reply"),
        ({"subject": "Out of Office AutoReply: Printer"}, "auto_reply"),
        ({"sender": "helpdesk@example.com"}, "own_address"),
        ({"sender": "MAILER-DAEMON@mx.example.com", "subject": "Undelivered Mail"}, "bounce"),
        ({"headers": {"Precedence": "bulk"}}, "bulk"),
    ],
)
def test_loops_are_logged_and_neither_ticket_nor_reply(alice, kw, reason):
    result = take_in(message(**kw), source="smtp")
    assert result.outcome == IntakeOutcome.ignored and result.reason.startswith(reason)
    assert count(Incident) == 0 and count(Notification) == 0
    assert rows(MailMessage)[0].reason.startswith(reason)


def test_rate_limit_per_sender(alice, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "mail_rate_limit_count", 3)
    outcomes = [take_in(message(subject=f"n{i}"), source="smtp").outcome for i in range(5)]
    assert outcomes == ["ticket"] * 3 + ["ignored"] * 2
    assert "rate_limited" in rows(MailMessage)[-1].reason


def test_mail_routes_and_subject_rules_choose_the_record_type(alice, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "mail_routes", {"Requests@example.com": "service_request"})
    monkeypatch.setattr(
        mail_settings, "mail_subject_rules", [{"pattern": "(?i)^order", "record_type": "service_request"}]
    )
    by_address = take_in(message(to="requests@example.com", subject="New laptop"), source="smtp")
    by_rule = take_in(message(subject="Order: a monitor"), source="smtp")
    plain = take_in(message(subject="Broken screen"), source="smtp")
    assert by_address.number.startswith("REQ") and by_rule.number.startswith("REQ")
    assert plain.number.startswith("INC") and count(ServiceRequest) == 2


def test_an_executable_in_the_mail_is_left_out_and_noted(alice):
    exe = b"MZ\x90\x00" + b"\x00" * 200
    result = take_in(message(attachments=[("setup.exe", "application/octet-stream", exe)]), source="smtp")
    assert result.outcome == IntakeOutcome.ticket
    assert [a.filename for a in rows(Attachment)] == ["original-message.eml"]
    from itsm_ai.audit.models import AuditEvent

    [note] = rows(AuditEvent, AuditEvent.action == "attachment_refused")
    assert "setup.exe" in note.new_value and note.internal


def dead_files(settings) -> list[dict]:
    folder = settings.mail_dead_letter_dir
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def test_oversized_mail_is_dead_lettered_with_the_reason(alice, monkeypatch, mail_settings):
    monkeypatch.setattr(mail_settings, "mail_max_message_bytes", 2000)
    result = take_in(message(body="x" * 5000, message_id="<big@example.com>"), source="smtp")
    assert result.outcome == IntakeOutcome.dead_letter and "ITSM_MAIL_MAX_MESSAGE_BYTES" in result.reason
    [meta] = dead_files(mail_settings)
    assert meta["code"] == "too_large" and meta["message_id"] == "big@example.com"
    assert (mail_settings.mail_dead_letter_dir / result.dead_letter_file).read_bytes().startswith(b"From:")
    assert count(Incident) == 0 and rows(MailMessage)[0].outcome == "dead_letter"


def test_archive_bomb_is_dead_lettered_and_leaves_nothing_behind(alice, mail_settings):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (mail_settings.mail_max_unpacked_bytes + 1024))
    result = take_in(message(attachments=[("logs.zip", "application/zip", buffer.getvalue())]), source="smtp")
    assert result.outcome == IntakeOutcome.dead_letter and "archive bomb" in result.reason
    assert count(Incident) == 0 and count(Attachment) == 0
    assert dead_files(mail_settings)[0]["code"] == "archive_bomb"


def test_malformed_mail_goes_to_dead_letter_and_intake_goes_on(alice, mail_settings):
    assert take_in(b"\x00\x01garbage", source="smtp").outcome == IntakeOutcome.dead_letter
    assert take_in(b"Subject: hello\r\n\r\nno sender", source="smtp").outcome == IntakeOutcome.dead_letter
    assert take_in(message(), source="smtp").outcome == IntakeOutcome.ticket
    assert sorted(m["code"] for m in dead_files(mail_settings)) == ["no_sender", "not_a_message"]


def test_a_failure_midway_leaves_no_half_ticket_and_no_stray_file(alice, monkeypatch, mail_settings):
    from itsm_ai.attachment import service as attachment_service

    real_add, calls = attachment_service.add, []

    def failing_add(**kw):
        calls.append(kw["filename"])
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real_add(**kw)

    monkeypatch.setattr(attachment_service, "add", failing_add)
    result = take_in(message(attachments=[("a.png", "image/png", PNG)]), source="smtp")
    assert result.outcome == IntakeOutcome.dead_letter and "disk on fire" in result.reason
    assert count(Incident) == 0 and count(Attachment) == 0 and count(Notification) == 0
    stored = [p for p in (mail_settings.attachment_dir).rglob("*") if p.is_file()]
    assert stored == []  # the file written before the failure went with the rollback


def test_a_database_outage_is_transient_and_keeps_the_message(alice, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from itsm_ai.mail import flows

    def broken_session():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(flows, "get_session", broken_session)
    with pytest.raises(TransientError):
        take_in(message(), source="smtp")


def test_a_colleague_answering_a_mail_of_the_thread_is_threaded(alice):
    first = take_in(message(message_id="<cc-root@example.com>"), source="smtp")
    make_user("carol", "carol@example.com")
    reply = message(sender="carol@example.com", subject="Re: Printer", in_reply_to="<cc-root@example.com>")
    result = take_in(reply, source="smtp")
    assert result.outcome == IntakeOutcome.comment and result.number == first.number
    [comment] = rows(Comment)
    with get_session() as s:
        from itsm_ai.auth.models import User

        assert s.get(User, comment.author_id).username == "carol"
