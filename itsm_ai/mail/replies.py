"""The new text of a reply: quoted history, attribution lines and signatures removed.

Pure. mail-parser-reply does the work (reply headers of Outlook, Gmail, Apple Mail, Yahoo and others in a
dozen languages, signatures, disclaimers); what it keeps of a bottom-posted or interleaved reply, the RFC 3676
quote lines (`>`) and the attribution line above them, is dropped here.
"""

from __future__ import annotations

from functools import lru_cache

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs", "ja", "ko", "zh"]


@lru_cache(maxsize=1)
def _parser():
    from mailparser_reply import EmailReplyParser

    return EmailReplyParser(languages=LANGUAGES)


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _drop_quote_lines(text: str) -> str:
    lines = text.split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _is_quote(line):
            continue
        following = next((n for n in lines[index + 1 :] if n.strip()), "")
        if line.rstrip().endswith(":") and _is_quote(following):
            continue  # "On <date>, <name> wrote:" above a quote block
        kept.append(line)
    out = "\n".join(kept)
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    return out.strip()


def latest_reply(text: str) -> str:
    """The part of a reply its sender wrote now (the whole text when nothing else is left)."""
    if not text.strip():
        return ""
    try:
        found = _parser().read(text=text).replies
        # `body` is the newest reply without its signature and disclaimer (`content` keeps them).
        reply = (found[0].body or found[0].content or "") if found else ""
    except Exception:  # noqa: BLE001 - the parser failing on odd input must not lose the mail
        reply = text
    stripped = _drop_quote_lines(reply)
    return stripped or reply.strip() or text.strip()
