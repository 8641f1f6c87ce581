"""Ticket text for drafting: HTML to plain blocks, sentence-like units (a code block joined to the line that
introduces it), boilerplate and step tests, titles, and the validated, scrubbed tickets of a cluster."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

from itsm_ai.knowledge.drafting.pii import scrub, scrub_report
from itsm_ai.knowledge.tokens import tokenize

Ticket = Mapping[str, Any]

_HTML_HINT = re.compile(
    r"</?(?:p|div|br|li|ul|ol|pre|code|a|h[1-6]|span|table|tr|td|b|i|strong|em|blockquote)\b[^>]*>",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[`]?[A-Z0-9])")
BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_BOILERPLATE = re.compile(
    r"^(?:hi|hello|dear|thanks|thank you|regards|cheers|best|kind regards)\b|"
    r"\b(?:please (?:let (?:me|us) know|contact|reach out|reopen)|hope (?:this|that) helps|"
    r"closing (?:the )?ticket|ticket (?:is )?(?:closed|resolved)|if you (?:have|need) any|feel free to|"
    r"let me know|marking (?:as )?resolved|no further action|user (?:has )?confirmed|"
    r"issue (?:is |has been )?resolved\.?$)",
    re.IGNORECASE,
)
_TITLE_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg)\s*:\s*)+", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\[(?:name|email|phone|ip|mac|secret)\]")


class _HTMLText(HTMLParser):
    """Collect text units from HTML: paragraphs, list items and code blocks stay separate."""

    _BLOCKS = frozenset("p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote hr dd dt".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._buf: list[str] = []
        self._pre = 0
        self._code = 0

    def _flush(self) -> None:
        text = "".join(self._buf)
        self._buf = []
        if self._pre:
            return
        text = re.sub(r"\s+", " ", text).strip()
        if text:
            self.parts.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self._flush()
            self._pre += 1
        elif tag == "code" and not self._pre:
            self._code += 1
            self._buf.append("`")
        elif tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre:
            code = "".join(self._buf).strip("\n")
            self._buf = []
            self._pre -= 1
            if code.strip():
                self.parts.append("```\n" + code.rstrip() + "\n```")
        elif tag == "code" and self._code and not self._pre:
            self._code -= 1
            self._buf.append("`")
        elif tag in self._BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def looks_like_html(text: str | None) -> bool:
    """True when a text carries HTML markup."""
    return bool(text) and bool(_HTML_HINT.search(text))


def html_to_blocks(text: str) -> list[str]:
    """Split HTML into plain-text blocks (paragraphs, list items, fenced code blocks)."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return [p.replace("``", "") if not p.startswith("```") else p for p in parser.parts]


def html_to_text(text: str) -> str:
    """Plain text of an HTML fragment, one block per line."""
    return "\n".join(html_to_blocks(text))


def split_units(text: str | None) -> list[str]:
    """Cut a text (plain or HTML) into sentence-like units; a code block joins the line introducing it."""
    if not text or not text.strip():
        return []
    if looks_like_html(text):
        blocks = html_to_blocks(text)
    else:
        blocks = []
        # Fenced code stays one block; the prose around it splits on lines.
        for piece in re.split(r"(```.*?```)", html.unescape(text), flags=re.DOTALL):
            if piece.startswith("```") and piece.endswith("```") and len(piece) > 6:
                blocks.append(piece)
            else:
                blocks.extend(b for b in piece.split("\n") if b.strip())
    units: list[str] = []
    for block in blocks:
        if block.startswith("```"):
            code = block.strip("`").strip()
            inline = code if "\n" not in code else None
            rendered = f"`{inline}`" if inline else block
            if units and units[-1].rstrip().endswith(":"):
                units[-1] = f"{units[-1].rstrip()}{' ' if inline else chr(10)}{rendered}"
            else:
                units.append(rendered)
            continue
        block = BULLET.sub("", block).strip()
        units.extend(s.strip() for s in _SENTENCE_END.split(block) if s.strip())
    return units


def clean_title(text: str) -> str:
    """A title without reply prefixes and runs of blanks, capitalised, at most 120 characters."""
    text = _TITLE_PREFIX.sub("", re.sub(r"\s+", " ", text)).strip(" .-:")
    if len(text) > 120:
        text = text[:117].rsplit(" ", 1)[0] + "..."
    return text[:1].upper() + text[1:]


def is_boilerplate(unit: str) -> bool:
    """True for greetings, sign-offs, ticket chatter, fragments and walls of text (code never is)."""
    if unit.startswith("`"):
        return False
    words = tokenize(PLACEHOLDER.sub(" ", unit), stem=False)
    return len(words) < 3 or bool(_BOILERPLATE.search(unit)) or len(unit) > 600


def is_step(unit: str) -> bool:
    """A resolution step is not a question nor an introduction whose code went missing."""
    text = unit.rstrip()
    return "`" in text or not (text.endswith("?") or text.endswith(":"))


def prepare_tickets(tickets: Sequence[Ticket]) -> tuple[list[dict[str, str]], list[str]]:
    """Validate, strip HTML and scrub personal data; returns the clean tickets and the names found."""
    if isinstance(tickets, Mapping) or not isinstance(tickets, Sequence) or not tickets:
        raise ValueError("tickets must be a non-empty list of dicts")
    raw: list[dict[str, str]] = []
    names: list[str] = []
    for i, ticket in enumerate(tickets):
        if not isinstance(ticket, Mapping):
            raise ValueError(f"tickets[{i}] must be a dict, got {type(ticket).__name__}")
        names += [
            str(ticket[k]) for k in ("caller", "caller_name", "assigned_to", "opened_by") if ticket.get(k)
        ]
        fields = {}
        for key in ("short_description", "description", "resolution_notes"):
            value = ticket.get(key)
            value = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            if looks_like_html(value):
                value = "\n\n".join(html_to_blocks(value))
            fields[key] = value
            names += scrub_report(value).names
        fields["number"] = str(ticket.get("number") or f"#{i + 1}")
        raw.append(fields)
    # A name seen anywhere in the cluster (a caller, a technician) is scrubbed everywhere in it.
    names = sorted(set(names))
    for fields in raw:
        for key in ("short_description", "description", "resolution_notes"):
            fields[key] = scrub(fields[key], names=names)
    return raw, names


def ticket_numbers(prepared: Sequence[Mapping[str, str]]) -> list[str]:
    """The prepared tickets' numbers, each once, in order."""
    return list(dict.fromkeys(t["number"] for t in prepared))
