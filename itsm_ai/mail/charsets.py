"""Turning the bytes of a mail body or header into text, whatever charset the sender claimed.

Pure: bytes and the declared charset in, text out. A declared charset that Python does not know, or that does
not fit the bytes, falls back to detection (charset-normalizer); only bytes that no charset explains are an
error, and the caller dead-letters the message.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Names mail software writes that Python's codec registry does not know (or knows under another name).
ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "iso-8859-8-i": "iso-8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}
UNKNOWN = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "8bit"})
# Latin-1 labels whose bytes 0x80-0x9F are really Windows-1252 punctuation (quotes, dashes, euro sign).
LATIN1 = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"})


class UndecodableText(ValueError):
    """No charset explains the bytes."""


@dataclass(frozen=True)
class Decoded:
    """Text and how it was obtained."""

    text: str
    charset: str
    guessed: bool


def codec_for(declared: str | None) -> str | None:
    """The Python codec of a declared charset, or None when unknown."""
    name = (declared or "").strip().strip('"').lower()
    if name in UNKNOWN:
        return None
    name = ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _detect(data: bytes) -> Decoded | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        return None
    return Decoded(str(best), best.encoding, True)


def decode(data: bytes, declared: str | None, *, strict: bool = False) -> Decoded:
    """Decode bytes with the declared charset, or a detected one when it is unknown or wrong."""
    if not data:
        return Decoded("", codec_for(declared) or "utf-8", False)
    codec = codec_for(declared)
    if codec in {codec_for(c) for c in LATIN1} and any(0x80 <= b <= 0x9F for b in data):
        codec = "cp1252"
    if codec is not None:
        try:
            return Decoded(data.decode(codec), codec, False)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        # Undeclared 8-bit text is most often UTF-8 these days; it either decodes cleanly or not at all.
        return Decoded(data.decode("utf-8"), "utf-8", codec is None)
    except UnicodeDecodeError:
        pass
    found = _detect(data)
    if found is not None:
        return found
    if strict:
        raise UndecodableText(f"body bytes fit neither the declared charset {declared!r} nor any other")
    return Decoded(data.decode(codec or "utf-8", errors="replace"), codec or "utf-8", True)
