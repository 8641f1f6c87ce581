"""Loop protection (RFC 3834): what never becomes a ticket nor gets an answer."""

from __future__ import annotations

import pytest

from itsm_ai.mail.enums import LoopKind
from itsm_ai.mail.loops import check
from itsm_ai.mail.parsing import parse
from tests.mail.helpers import message

OWN = {"helpdesk@example.com"}


def verdict_of(raw: bytes, **kw):
    return check(parse(raw), own_addresses=OWN, **kw)


def test_a_person_writing_gets_a_ticket_and_an_answer():
    assert verdict_of(message()) == (None, True)


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"Auto-Submitted": "auto-replied"}, LoopKind.auto_reply),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y"}, LoopKind.auto_reply),
        ({"X-Auto-Response-Suppress": "All"}, LoopKind.auto_reply),
        ({"X-Autoreply": "yes"}, LoopKind.auto_reply),
        ({"Precedence": "bulk"}, LoopKind.bulk),
        ({"Precedence": "junk"}, LoopKind.bulk),
        ({"Precedence": "list"}, LoopKind.bulk),
        ({"Precedence": "auto_reply"}, LoopKind.auto_reply),
        ({"X-Failed-Recipients": "bob@example.com"}, LoopKind.bounce),
    ],
)
def test_marker_headers_stop_ticket_and_answer(headers, kind):
    verdict, may_reply = verdict_of(message(headers=headers))
    assert verdict is not None and verdict.kind == kind and verdict.reason
    assert not may_reply


def test_auto_submitted_no_is_a_person():
    assert verdict_of(message(headers={"Auto-Submitted": "no"})) == (None, True)


def test_bulk_may_open_tickets_when_configured_but_is_never_answered():
    assert verdict_of(message(headers={"Precedence": "list"}), bulk_is_ticket=True) == (None, False)


def test_own_address_and_own_loop_marker():
    verdict, _ = verdict_of(message(sender="Helpdesk <HELPDESK@example.com>"))
    assert verdict.kind == LoopKind.own_address
    verdict, _ = verdict_of(message(headers={"X-ITSM-Loop": "helpdesk@example.com"}))
    assert verdict.kind == LoopKind.own_address


def test_delivery_status_report_is_a_bounce():
    raw = (
        b"From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>\r\nSubject: Returned mail\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n--x--\r\n"
    )
    verdict, may_reply = verdict_of(raw)
    assert verdict.kind == LoopKind.bounce and "delivery-status" in verdict.reason and not may_reply


def test_read_receipt_report():
    raw = (
        b"From: bob@example.com\r\nSubject: Read: Printer\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="x"\r\n\r\n'
        b"--x\r\nContent-Type: text/plain\r\n\r\nread\r\n--x--\r\n"
    )
    assert verdict_of(raw)[0].kind == LoopKind.read_receipt


@pytest.mark.parametrize(
    ("sender", "subject", "kind"),
    [
        ("alice@example.com", "Out of Office AutoReply: Printer", LoopKind.auto_reply),
        ("alice@example.com", "Automatic reply: Printer", LoopKind.auto_reply),
        ("alice@example.com", "Abwesenheitsnotiz: Drucker", LoopKind.auto_reply),
        ("alice@example.com", "Alice Smith is out of the office.", LoopKind.auto_reply),
        ("postmaster@example.com", "Undeliverable: Printer", LoopKind.bounce),
        ("MAILER-DAEMON@example.com", "failure notice", LoopKind.bounce),
    ],
)
def test_machine_mail_without_markers_is_recognised_by_its_shape(sender, subject, kind):
    assert verdict_of(message(sender=sender, subject=subject))[0].kind == kind


def test_a_person_writing_from_postmaster_about_something_else_is_a_ticket():
    assert verdict_of(message(sender="postmaster@example.com", subject="Please enjoy this link"))[0] is None


def test_null_return_path_allows_a_ticket_but_no_answer():
    assert verdict_of(message(headers={"Return-Path": "<>"})) == (None, False)
