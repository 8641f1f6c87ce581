"""Text clean-up for the intent detector's examples and messages: repairing UTF-8 that was decoded as
Windows-1252 (common in ticket exports: "fÃ¤hrt" for "fährt"), the opening part of a ticket description
without mail headers, and whether a ticket text says anything a person could have typed."""

from __future__ import annotations

import re
import unicodedata

# Two- and three-byte UTF-8 sequences read as Windows-1252 start with one of these characters.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013-\u203a\u20ac\u2122]"
)
_HEADER_LINE = re.compile(
    r"^\s*(received from|from|sent|to|cc|bcc|subject|date|von|gesendet|an|betreff)\s*:.*$", re.I | re.M
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_TOKEN = re.compile(r"\S+")
_NUMERIC = re.compile(r"^[\W_]*(\d[\w./:-]*|[\w-]*\d+[\w./:-]*)[\W_]*$")

DESCRIPTION_CHARS = 300


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 decoded as Windows-1252 (or Latin-1), when the whole text then is valid UTF-8."""
    if not _MOJIBAKE_HINT.search(text):
        return text
    raw = bytearray()
    for char in text:
        try:
            raw += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                return text
            raw.append(ord(char))  # bytes cp1252 leaves undefined (0x81, 0x8d, ...) were kept as Latin-1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


def normalise(text: str) -> str:
    """One line of NFC text with mis-decoded UTF-8 repaired and runs of whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", repair_mojibake(text)).split())


def first_description(text: str | None, max_chars: int = DESCRIPTION_CHARS) -> str:
    """The opening of a ticket description as its caller wrote it: mail header lines and addresses
    dropped, cut at a word boundary after `max_chars`."""
    if not text:
        return ""
    body = _EMAIL.sub(" ", _HEADER_LINE.sub(" ", repair_mojibake(text)))
    body = normalise(body)
    if len(body) > max_chars:
        body = body[:max_chars].rsplit(" ", 1)[0]
    return body


def is_usable(text: str) -> bool:
    """True when a ticket text has words a person wrote: at least one word of letters, and not mostly ids
    and numbers (an import without text gets titles like "Symptom 72 (Category 55 / Subcategory 170)")."""
    if not _WORD.search(text):
        return False
    tokens = _TOKEN.findall(text)
    numeric = sum(1 for t in tokens if _NUMERIC.match(t))
    return numeric / len(tokens) < 0.4
