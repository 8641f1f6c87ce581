"""Parsing the shapes the real samples lack: alternative, HTML only, inline images, forwards, charsets."""

from __future__ import annotations

import pytest

from itsm_ai.mail.parsing import BadMail, parse
from tests.mail.helpers import PNG, message


def raw_mail(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def test_multipart_alternative_prefers_the_plain_text():
    parsed = parse(message(body="Plain words.", html="<p>HTML <b>words</b>.</p>"))
    assert parsed.text == "Plain words."
    assert not parsed.html_only
    assert parsed.attachments == []


def test_html_only_is_converted_to_text_with_links_and_no_markup():
    html = "<html><body><p>The <b>VPN</b> drops.</p><ul><li>laptop</li></ul><a href='http://x.test/a'>log</a>"
    parsed = parse(message(body=None, html=html))
    assert parsed.html_only
    assert "VPN drops" in parsed.text and "<b>" not in parsed.text
    assert "http://x.test/a" in parsed.text and "laptop" in parsed.text


def test_inline_image_and_attachment_are_both_kept_as_files():
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "helpdesk@example.com", "screen"
    msg.set_content("see below")
    msg.add_alternative('<p>see <img src="cid:shot1"></p>', subtype="html")
    msg.get_payload()[1].add_related(PNG, "image", "png", cid="<shot1>", filename="shot.png")
    msg.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="report.pdf")
    parsed = parse(msg.as_bytes())
    names = {a.filename: a for a in parsed.attachments}
    assert set(names) == {"shot.png", "report.pdf"}
    assert names["shot.png"].inline and names["shot.png"].content_id == "shot1"
    assert not names["report.pdf"].inline
    assert parsed.text == "see below"


def test_forwarded_message_attached_contributes_its_text():
    inner = message(sender="bob@example.com", subject="Disk full on srv-7", body="srv-7 /var is at 100%")
    from email.message import EmailMessage
    from email.parser import BytesParser

    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = (
        "alice@example.com",
        "helpdesk@example.com",
        "Fwd: Disk full",
    )
    outer.set_content("Please look at this.")
    outer.add_attachment(BytesParser().parsebytes(inner))
    parsed = parse(outer.as_bytes())
    assert parsed.text.startswith("Please look at this.")
    assert "Forwarded message" in parsed.text and "srv-7 /var is at 100%" in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Le réseau est très lent, ça bloque."),
        ("windows-1252", "Quotes “like this” – and € signs"),
        ("shift_jis", "プリンターが動きません"),
        ("koi8-r", "Принтер не печатает"),
    ],
)
def test_declared_charsets_decode(charset, text):
    raw = raw_mail(
        f"From: a@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset={charset}",
        text.encode(charset),
    )
    assert parse(raw).text == text


def test_latin1_label_on_windows_1252_bytes_is_read_as_windows_1252():
    raw = raw_mail(
        "From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1", b"\x93ok\x94"
    )
    assert parse(raw).text == "“ok”"


def test_unknown_and_wrong_charsets_fall_back_to_detection():
    body = "Der Drucker im zweiten Stock druckt nicht mehr, bitte prüfen Sie das Gerät möglichst bald."
    unknown = raw_mail(
        "From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=x-klingon", body.encode()
    )
    assert parse(unknown).text == body
    wrong = raw_mail(
        "From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=us-ascii", body.encode()
    )
    assert parse(wrong).text == body


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?iso-8859-1?q?Caf=E9_ferm=E9?=", "Café fermé"),
        ("=?utf-8?b?0J/RgNC40L3RgtC10YAg0L3QtSDRgNCw0LHQvtGC0LDQtdGC?=", "Принтер не работает"),
        ("=?shift_jis?b?g3aDioOTg16BWw==?=", "プリンター"),
        ("=?windows-1252?q?=93quoted=94?= and plain", "“quoted” and plain"),
    ],
)
def test_encoded_word_subjects(header, expected):
    raw = raw_mail(f"From: a@example.com\nSubject: {header}", b"x")
    assert parse(raw).subject == expected


def test_raw_8bit_utf8_subject_is_recovered():
    raw = "From: a@example.com\r\nSubject: Écran noir\r\n\r\nx".encode()
    assert parse(raw).subject == "Écran noir"


def test_ids_threading_headers_and_a_synthetic_id_without_message_id():
    parsed = parse(message(message_id="<m1@example.com>", in_reply_to="<p@x>", references="<a@x> <b@x>"))
    assert parsed.message_id == "m1@example.com"
    assert parsed.thread_ids == ["p@x", "b@x", "a@x"]
    bare = raw_mail("From: a@example.com\nSubject: x", b"hello")
    first, second = parse(bare), parse(bare)
    assert first.synthetic_id and first.message_id == second.message_id


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02 binary garbage without headers", "not_a_message"),
        (b"Subject: no sender\r\n\r\nbody", "no_sender"),
    ],
)
def test_unusable_messages_are_refused_with_a_reason(raw, code):
    with pytest.raises(BadMail) as info:
        parse(raw)
    assert info.value.code == code and info.value.reason


def test_too_many_parts_is_refused():
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(30))
    raw = raw_mail(
        'From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary="B"', parts + b"--B--"
    )
    with pytest.raises(BadMail) as info:
        parse(raw, max_parts=10)
    assert info.value.code == "too_many_parts"


def test_undecodable_bytes_in_a_declared_text_part_are_dead_lettered():
    noise = bytes(range(256)) * 4
    raw = raw_mail(
        "From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit",
        noise,
    )
    try:
        parsed = parse(raw)
    except BadMail as exc:
        assert exc.code == "charset"
    else:  # a detector may still find a single-byte charset that covers every byte: then it is text
        assert parsed.text
