"""Parsing a raw message into what intake needs: ids, addresses, subject, text, attachments, loop markers.

Pure: bytes in, a `ParsedMail` out (or `BadMail` with the reason it is refused). Headers and bodies are
decoded tolerantly (wrong or unknown charsets fall back to detection, raw 8-bit header bytes are recovered),
HTML bodies are converted to text, and a forwarded message attached as message/rfc822 contributes its text.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from itsm_ai.mail import charsets

MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
SKIPPED_TYPES = frozenset({"application/ms-tnef"}) | SIGNATURE_TYPES


class BadMail(Exception):
    """The message cannot be taken in; `reason` says why (it goes to the dead-letter folder)."""

    def __init__(self, reason: str, code: str = "malformed"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class MailAttachment:
    """A file carried by the message."""

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None


@dataclass
class ParsedMail:
    """What intake reads from one message."""

    message_id: str
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    in_reply_to: list[str]
    references: list[str]
    date: datetime | None
    text: str
    html_only: bool
    attachments: list[MailAttachment]
    headers: dict[str, str]
    content_type: str
    report_type: str | None
    parts: int
    defects: list[str] = field(default_factory=list)
    synthetic_id: bool = False

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this one answers: In-Reply-To first, then References newest first."""
        return list(dict.fromkeys(self.in_reply_to + list(reversed(self.references))))


# -- headers ------------------------------------------------------------------------------------------------


def _raw_bytes(value: str) -> bytes:
    # compat32 keeps undecodable header bytes as surrogate escapes; get the original bytes back.
    return value.encode("ascii", "surrogateescape")


def header_text(value: object) -> str:
    """A header value as text: encoded words decoded, raw 8-bit bytes detected, folding removed."""
    if value is None:
        return ""
    raw = value if isinstance(value, Header) else str(value)
    try:
        chunks = decode_header(raw)
    except Exception:  # noqa: BLE001 - a broken encoded word: fall back to the raw text
        chunks = [(str(raw), None)]
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            try:
                chunk.encode("ascii")
                out.append(chunk)
                continue
            except UnicodeEncodeError:
                chunk = (
                    _raw_bytes(chunk) if any(0xDC80 <= ord(c) <= 0xDCFF for c in chunk) else chunk.encode()
                )
        out.append(charsets.decode(chunk, charset).text)
    text = "".join(out)
    return re.sub(r"\s*\r?\n\s*", " ", text).strip()


def message_ids(value: object) -> list[str]:
    """The Message-IDs in an In-Reply-To / References / Message-ID header, without angle brackets."""
    text = str(value or "")
    found = MESSAGE_ID.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>")]
    return [f.strip() for f in found if f.strip()]


def _addresses(msg: Message, name: str) -> list[str]:
    values = [str(v) for v in msg.get_all(name, [])]
    try:
        pairs = getaddresses(values)
    except Exception:  # noqa: BLE001 - a malformed address list yields what it can
        pairs = []
    return [a.strip().lower() for _n, a in pairs if a and "@" in a]


def _from(msg: Message) -> tuple[str, str]:
    raw = msg.get("From") or msg.get("Sender") or msg.get("Reply-To") or ""
    name, address = parseaddr(str(raw))
    if "@" not in address:
        # "user@host (Full Name)" and other shapes parseaddr misses: take the first address-looking token.
        match = re.search(r"[\w.+'=-]+@[\w-]+(?:\.[\w-]+)+", str(raw))
        address = match.group(0) if match else ""
    return header_text(name).strip('"').strip(), address.strip().lower()


def _date(msg: Message) -> datetime | None:
    try:
        value = parsedate_to_datetime(str(msg.get("Date")))
    except Exception:  # noqa: BLE001 - a missing or broken date is just unknown
        return None
    return value if value.tzinfo is not None else None


# -- bodies --------------------------------------------------------------------------------------------------


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (links kept, images dropped, no hard wrapping)."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = False
    converter.single_line_break = False
    converter.unicode_snob = True
    text = converter.handle(html)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: no usable bytes
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


def _part_text(part: Message, *, strict: bool) -> str:
    data = _payload(part)
    text = charsets.decode(data, part.get_content_charset() or part.get_param("charset"), strict=strict).text
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a broken RFC 2231 parameter: use a generated name
        name = None
    name = header_text(name) if name else ""
    if "\ufffd" in name:
        # Raw 8-bit bytes in the parameter: the stdlib replaced them; read them from the header itself.
        for header in ("Content-Disposition", "Content-Type"):
            match = re.search(r'(?:file)?name\*?="?([^";]+)', header_text(part.get(header)))
            if match and "\ufffd" not in match.group(1):
                name = match.group(1).strip()
                break
    if not name:
        ctype = part.get_content_type()
        ext = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype) or ".bin")
        stem = (
            "image"
            if ctype.startswith("image/")
            else "message"
            if ctype == "message/rfc822"
            else "attachment"
        )
        name = f"{stem}-{index}{ext}"
    return name


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    ctype = part.get_content_type()
    if disposition == "attachment":
        return True
    if ctype.startswith("text/") and ctype in ("text/plain", "text/html"):
        return False
    return not part.is_multipart() and ctype not in (
        "message/delivery-status",
        "message/disposition-notification",
    )


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[MailAttachment] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    parts: int = 0


def _walk(part: Message, acc: _Walk, *, max_parts: int, depth: int = 0) -> None:
    acc.parts += 1
    if acc.parts > max_parts:
        raise BadMail(f"more than {max_parts} MIME parts (ITSM_MAIL_MAX_PARTS)", "too_many_parts")
    if depth > 20:
        raise BadMail("MIME nesting deeper than 20 levels", "too_deep")
    ctype = part.get_content_type()
    if ctype in SKIPPED_TYPES:
        return
    if ctype == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        data = inner.as_bytes() if isinstance(inner, Message) else _payload(part)
        acc.attachments.append(
            MailAttachment(_filename(part, len(acc.attachments) + 1), ctype, data, False, None)
        )
        if isinstance(inner, Message):
            acc.forwarded.append(_forwarded_text(inner, max_parts=max_parts, depth=depth + 1))
        return
    if part.is_multipart() or ctype.startswith("multipart/"):
        children = part.get_payload()
        if not isinstance(children, list):
            return  # a multipart without parts (a broken boundary): nothing to take
        if ctype == "multipart/alternative":
            _walk_alternative(children, acc, max_parts=max_parts, depth=depth + 1)
            return
        for child in children:
            _walk(child, acc, max_parts=max_parts, depth=depth + 1)
        return
    if _is_attachment(part):
        cid = part.get("Content-ID")
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        acc.attachments.append(
            MailAttachment(
                _filename(part, len(acc.attachments) + 1),
                ctype,
                _payload(part),
                inline=disposition != "attachment" or cid is not None,
                content_id=cid.strip().strip("<>") if cid else None,
            )
        )
        return
    if ctype == "text/html":
        acc.html.append(_part_text(part, strict=True))
    elif ctype == "text/plain":
        acc.plain.append(_part_text(part, strict=True))


def _walk_alternative(children: list[Message], acc: _Walk, *, max_parts: int, depth: int) -> None:
    """Use the richest plain-text alternative, else the HTML one (converted); nested related parts count."""
    sub = [_Walk() for _ in children]
    for child, into in zip(children, sub, strict=True):
        into.parts = acc.parts
        _walk(child, into, max_parts=max_parts, depth=depth)
        acc.parts = into.parts
    plain = [s for s in sub if "".join(s.plain).strip()]
    chosen = plain[-1] if plain else next((s for s in reversed(sub) if "".join(s.html).strip()), None)
    for s in sub:
        acc.attachments.extend(s.attachments)
        acc.forwarded.extend(s.forwarded)
    if chosen is not None:
        acc.plain.extend(chosen.plain)
        if not chosen.plain:
            acc.html.extend(chosen.html)


def _forwarded_text(inner: Message, *, max_parts: int, depth: int) -> str:
    acc = _Walk()
    _walk(inner, acc, max_parts=max_parts, depth=depth)
    body = "\n\n".join(t.strip() for t in acc.plain + acc.html if t.strip())
    name, address = _from(inner)
    head = [
        "---------- Forwarded message ----------",
        f"From: {name} <{address}>" if name else f"From: {address}",
        f"Date: {inner.get('Date', '')}",
        f"Subject: {header_text(inner.get('Subject'))}",
    ]
    return "\n".join(head) + "\n\n" + body


# -- the message -------------------------------------------------------------------------------------------


LOOP_HEADERS = (
    "Auto-Submitted",
    "Precedence",
    "X-Auto-Response-Suppress",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Reply",
    "List-Id",
    "List-Unsubscribe",
    "Return-Path",
    "X-Failed-Recipients",
    "X-Loop",
    "X-ITSM-Loop",
    "Delivered-To",
)


def synthetic_message_id(raw: bytes) -> str:
    """A stable id for a message without Message-ID, so redelivery of the same bytes is still a duplicate."""
    return f"sha256-{hashlib.sha256(raw).hexdigest()[:40]}@itsm-ai.invalid"


def parse(raw: bytes, *, max_parts: int = 200) -> ParsedMail:
    """Parse one raw message; BadMail when it is not a usable e-mail."""
    if not raw or not raw.strip():
        raise BadMail("empty message", "empty")
    head = raw[:4096]
    if b":" not in head.split(b"\n\n", 1)[0] and b":" not in head.split(b"\r\n\r\n", 1)[0]:
        raise BadMail("no header block: this is not an RFC 5322 message", "not_a_message")
    try:
        msg = message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient; anything it raises is fatal
        raise BadMail(f"unparseable MIME: {type(exc).__name__}: {exc}") from exc
    defects = [type(d).__name__ for d in msg.defects]
    from_name, from_address = _from(msg)
    if not from_address:
        raise BadMail("no sender address in From/Sender/Reply-To", "no_sender")
    ids = message_ids(msg.get("Message-ID"))
    message_id, synthetic = (ids[0], False) if ids else (synthetic_message_id(raw), True)
    acc = _Walk()
    try:
        _walk(msg, acc, max_parts=max_parts)
    except charsets.UndecodableText as exc:
        raise BadMail(str(exc), "charset") from exc
    except RecursionError as exc:
        raise BadMail("MIME structure too deeply nested", "too_deep") from exc
    plain = "\n\n".join(t.strip() for t in acc.plain if t.strip())
    html = "\n\n".join(t.strip() for t in acc.html if t.strip())
    text = plain or html
    if acc.forwarded:
        text = "\n\n".join([text, *acc.forwarded]).strip()
    headers = {h.lower(): header_text(msg.get(h)) for h in LOOP_HEADERS if msg.get(h) is not None}
    return ParsedMail(
        message_id=message_id,
        subject=header_text(msg.get("Subject")),
        from_address=from_address,
        from_name=from_name,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(" ".join(str(v) for v in msg.get_all("References", []))),
        date=_date(msg),
        text=text,
        html_only=not plain and bool(html),
        attachments=acc.attachments,
        headers=headers,
        content_type=msg.get_content_type(),
        report_type=(msg.get_param("report-type") or None)
        if msg.get_content_type() == "multipart/report"
        else None,
        parts=acc.parts,
        defects=defects,
        synthetic_id=synthetic,
    )
