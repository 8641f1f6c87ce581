"""Ticket text as the triage models see it: a ticket's columns joined into one text (`ticket_text`), and
cleaned of what e-mail tickets carry besides the request (`clean_ticket_text`: mail header blocks, sender
addresses, greeting and closing lines; UTF-8 text that was decoded as cp1252, "grÃ¼ÃŸe", is repaired).
"""

from __future__ import annotations

import re
from typing import Any

# What a UTF-8 lead byte and a continuation byte look like when read as cp1252/latin-1.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]"
)
_MAIL_HEADER_BLOCK = re.compile(
    r"^[ \t]*(?:from|von)[ \t]*:.*\n"
    r"(?:[ \t]*(?:sent|gesendet|to|an|cc|date|datum|importance|wichtigkeit)[ \t]*:.*\n?)+",
    re.IGNORECASE | re.MULTILINE,
)
_SUBJECT = re.compile(
    r"^[ \t]*(?:subject|betreff)[ \t]*:[ \t]*(?:(?:re|aw|fw|fwd|wg)[ \t]*:[ \t]*)*",
    re.IGNORECASE | re.MULTILINE,
)
_RECEIVED_FROM = re.compile(r"received from:\s*\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_COURTESY_LINE = re.compile(
    r"^[ \t]*(?:hi|hello|hallo|dear\b[^\n]{0,40}|good (?:morning|afternoon|day)|greetings|"
    r"thanks?(?: you)?(?: in advance)?|(?:kind |best |with best |warm )?regards|best|kind|with best|"
    r"sincerely|cheers|mit freundlichen gr(?:ü|ue)(?:ß|ss)en(?: / best)?|gruß|viele grüße)"
    r"(?:[ \t]+team)?[ \t]*[,.!]*[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def _as_byte(ch: str) -> bytes | None:
    try:
        return ch.encode("cp1252")
    except UnicodeError:
        return bytes([ord(ch)]) if ord(ch) < 256 else None


def fix_mojibake(text: str) -> str:
    """Repair UTF-8 text that was decoded as cp1252 or latin-1; text that does not round-trip is kept."""
    if not _MOJIBAKE.search(text):
        return text
    raw = bytearray()
    for ch in text:
        byte = _as_byte(ch)
        if byte is None:
            return text
        raw += byte
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        return text


def ticket_text(*parts: Any) -> str:
    """One text from a ticket's short description and description (or more columns), as models see it."""
    return " . ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def clean_ticket_text(text: str) -> str:
    """Drop mail headers, addresses and greeting/closing lines, repair mojibake, collapse whitespace."""
    text = fix_mojibake(text).replace("\r\n", "\n").replace("\r", "\n")
    cleaned = _MAIL_HEADER_BLOCK.sub(" ", text)
    cleaned = _SUBJECT.sub(" ", cleaned)
    cleaned = _EMAIL.sub(" ", _RECEIVED_FROM.sub(" ", cleaned))
    cleaned = " ".join(_COURTESY_LINE.sub(" ", cleaned).split())
    # A ticket that is nothing but a greeting keeps its words rather than becoming empty.
    return cleaned or " ".join(text.split())
