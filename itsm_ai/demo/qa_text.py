"""Stack Exchange answer HTML as safe plain text: no markup survives, code and lists keep their shape.

Pure (standard library only): used by `python -m itsm_ai.demo.build_qa` to derive the shipped
`stackexchange_qa.json`, and by its tests.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never text a reader should see.
_DROP = frozenset({"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "tr",
        "hr",
        "dl",
        "dd",
        "dt",
    }
)
_SAFE_SCHEMES = ("http://", "https://")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.drop = 0
        self.pre = 0
        self.items = 0  # open <li> elements
        self.links: list[str | None] = []
        self.link_text: list[list[str]] = []

    def _emit(self, text: str) -> None:
        if self.link_text:
            self.link_text[-1].append(text)
        self.parts.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP:
            self.drop += 1
        elif self.drop:
            return
        elif tag == "pre":
            self.pre += 1
            self.parts.append("\n\n")
        elif tag == "li":
            self.items += 1
            self.parts.append("\n- ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            if not (self.parts and self.parts[-1] == "\n- "):  # <li><p>: the item's text follows its dash
                self.parts.append("\n\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href if href.startswith(_SAFE_SCHEMES) else None)
            self.link_text.append([])
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._emit(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self.drop = max(0, self.drop - 1)
        elif self.drop:
            return
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.parts.append("\n\n")
        elif tag == "li":
            self.items = max(0, self.items - 1)
        elif tag == "p" and self.items:
            return  # a paragraph inside a list item ends with the item: no blank line between items
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href, text = self.links.pop(), "".join(self.link_text.pop()).strip()
            if self.link_text:  # a link inside a link: its text belongs to the outer one too
                self.link_text[-1].append(text)
            # A bare URL as its own text is already shown; otherwise the reader needs the address.
            if href and href.rstrip("/") != text.rstrip("/"):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.drop:
            return
        if self.pre:
            # Code keeps its lines, each indented so it stays apart from the prose around it.
            self._emit("\n".join("    " + line if line else "" for line in data.split("\n")))
        else:
            text = re.sub(r"\s+", " ", data)
            if self.parts and self.parts[-1].endswith(("\n", "- ")):
                text = text.lstrip()
            self._emit(text)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags and scripts gone, entities decoded, paragraphs kept."""
    parser = _TextParser()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts)
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        stripped = line if line.startswith("    ") else line.strip()
        if not stripped and (not out or not out[-1]):
            continue  # at most one blank line in a row
        out.append(stripped)
    return "\n".join(out).strip()
