"""Draft knowledge articles from a cluster of resolved tickets.

``ExtractiveDrafter`` works offline: it scrubs personal data, strips HTML, cuts the texts into
sentences (a code block is one unit, joined to the sentence that introduces it), scores each sentence
by consensus (its mean best similarity to the other tickets of the cluster, TF-IDF or embeddings),
drops boilerplate and near-duplicates, and orders the chosen resolution steps by where they appear in
their tickets. ``GenerativeDrafter`` asks any OpenAI-compatible ``/v1/chat/completions`` endpoint for
a JSON article (sending scrubbed text only) and falls back to the extractive drafter when the endpoint
is not configured, fails, times out or answers something unusable.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any

import numpy as np

from itsm_ai.knowledge.lexical import tokenize
from itsm_ai.knowledge.pii import scrub, scrub_report

Ticket = Mapping[str, Any]

_HTML_HINT = re.compile(
    r"</?(?:p|div|br|li|ul|ol|pre|code|a|h[1-6]|span|table|tr|td|b|i|strong|em|blockquote)\b[^>]*>",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[`]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_CAUSE_CUE = re.compile(
    r"\b(?:caused by|due to|root cause|because of|the (?:issue|problem|error) (?:was|is) (?:caused|due|that)|"
    r"was the (?:cause|culprit)|resulted from|the reason (?:was|is)|happens when|occurs when|"
    r"is triggered by)\b",
    re.IGNORECASE,
)
# Explicit cause statements; weaker cues ("due to") only count when the cluster agrees with them.
_STRONG_CAUSE = re.compile(
    r"\b(?:caused by|root cause|was the (?:cause|culprit)|the (?:issue|problem|error) was)\b", re.IGNORECASE
)
_BOILERPLATE = re.compile(
    r"^(?:hi|hello|dear|thanks|thank you|regards|cheers|best|kind regards)\b|"
    r"\b(?:please (?:let (?:me|us) know|contact|reach out|reopen)|hope (?:this|that) helps|"
    r"closing (?:the )?ticket|ticket (?:is )?(?:closed|resolved)|if you (?:have|need) any|feel free to|"
    r"let me know|marking (?:as )?resolved|no further action|user (?:has )?confirmed|"
    r"issue (?:is |has been )?resolved\.?$)",
    re.IGNORECASE,
)
_TITLE_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg)\s*:\s*)+", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\[(?:name|email|phone|ip|mac|secret)\]")


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
        block = _BULLET.sub("", block).strip()
        units.extend(s.strip() for s in _SENTENCE_END.split(block) if s.strip())
    return units


def _clean_title(text: str) -> str:
    text = _TITLE_PREFIX.sub("", re.sub(r"\s+", " ", text)).strip(" .-:")
    if len(text) > 120:
        text = text[:117].rsplit(" ", 1)[0] + "..."
    return text[:1].upper() + text[1:]


def _is_boilerplate(unit: str) -> bool:
    if unit.startswith("`"):
        return False
    words = tokenize(_PLACEHOLDER.sub(" ", unit), stem=False)
    return len(words) < 3 or bool(_BOILERPLATE.search(unit)) or len(unit) > 600


def _is_step(unit: str) -> bool:
    """A resolution step is not a question nor an introduction whose code went missing."""
    text = unit.rstrip()
    return "`" in text or not (text.endswith("?") or text.endswith(":"))


@dataclass
class Draft:
    """A knowledge-article draft with its provenance and how well the source tickets support it."""

    title: str
    symptoms: str
    cause: str | None
    resolution_steps: list[str]
    source_numbers: list[str]
    confidence: float = 0.0
    coverage: float = 0.0
    method: str = "extractive"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)

    def to_markdown(self) -> str:
        """Render as a Markdown article body."""
        lines = [f"# {self.title}", "", "## Symptoms", self.symptoms or "-", ""]
        if self.cause:
            lines += ["## Cause", self.cause, ""]
        lines += ["## Resolution"]
        lines += [f"{i}. {step}" for i, step in enumerate(self.resolution_steps, 1)] or ["-"]
        lines += ["", f"_Sources: {', '.join(self.source_numbers)}_"]
        return "\n".join(lines)


@dataclass
class _Unit:
    text: str
    ticket: int
    field: str
    position: float  # relative position of the unit within its field, 0..1


def _prepare_tickets(tickets: Sequence[Ticket]) -> tuple[list[dict[str, str]], list[str]]:
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


def _source_numbers(prepared: Sequence[Mapping[str, str]]) -> list[str]:
    return list(dict.fromkeys(t["number"] for t in prepared))


class ExtractiveDrafter:
    """Offline drafter: picks and orders the most representative sentences of a ticket cluster."""

    def __init__(
        self,
        *,
        max_steps: int = 6,
        max_symptoms: int = 2,
        dedupe_threshold: float = 0.6,
        support_threshold: float = 0.3,
        encoder: Any = None,
    ):
        self.max_steps = max_steps
        self.max_symptoms = max_symptoms
        self.dedupe_threshold = dedupe_threshold
        self.support_threshold = support_threshold
        self.encoder = encoder

    # ---------------------------------------------------------------------------------- similarity
    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        if self.encoder is not None:
            return np.asarray(
                self.encoder.encode([_PLACEHOLDER.sub(" ", t) for t in texts]), dtype=np.float32
            )
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, sublinear_tf=True
        )
        try:
            matrix = vectorizer.fit_transform([_PLACEHOLDER.sub(" ", t).strip("`") for t in texts])
        except ValueError:  # empty vocabulary: nothing but stop words
            return np.zeros((len(texts), 1), dtype=np.float32)
        return matrix.toarray().astype(np.float32)

    @staticmethod
    def _consensus(sims: np.ndarray, owners: np.ndarray, n_tickets: int) -> np.ndarray:
        """Mean over the other tickets of each unit's best similarity to that ticket's units."""
        if n_tickets < 2:
            centroid = sims.mean(axis=1)
            return centroid
        scores = np.zeros(len(owners), dtype=np.float32)
        others = 0
        for t in range(n_tickets):
            cols = owners == t
            if not cols.any():
                continue
            best = sims[:, cols].max(axis=1)
            best[owners == t] = 0.0
            scores += best
            others += 1
        return scores / max(1, others - 1)

    def _select(
        self, units: list[_Unit], scores: np.ndarray, sims: np.ndarray, limit: int, *, steps: bool = False
    ) -> list[int]:
        chosen: list[int] = []
        for i in np.argsort(-scores, kind="stable").tolist():
            if len(chosen) == limit:
                break
            if _is_boilerplate(units[i].text) or (steps and not _is_step(units[i].text)):
                continue
            if any(sims[i, j] >= self.dedupe_threshold for j in chosen):
                continue
            if any(units[i].text.casefold() == units[j].text.casefold() for j in chosen):
                continue
            chosen.append(i)
        return chosen

    # -------------------------------------------------------------------------------------- public
    def support(self, tickets: Sequence[Ticket], steps: Sequence[str]) -> tuple[float, float]:
        """(coverage, agreement) of resolution steps: tickets backing any step, mean share per step."""
        prepared, _ = _prepare_tickets(tickets)
        return self._support(prepared, list(steps))

    def _support(self, prepared: Sequence[Mapping[str, str]], steps: list[str]) -> tuple[float, float]:
        units = [
            _Unit(u, t, "resolution_notes", 0.0)
            for t, ticket in enumerate(prepared)
            for u in split_units(ticket["resolution_notes"] or ticket["description"])
        ]
        if not steps or not units:
            return 0.0, 0.0
        vectors = self._vectors([*steps, *(u.text for u in units)])
        sims = vectors[: len(steps)] @ vectors[len(steps) :].T
        owners = np.array([u.ticket for u in units])
        backing = np.zeros((len(steps), len(prepared)), dtype=bool)
        for t in range(len(prepared)):
            cols = owners == t
            if cols.any():
                backing[:, t] = sims[:, cols].max(axis=1) >= self.support_threshold
        coverage = float(backing.any(axis=0).mean())
        agreement = float(backing.mean(axis=1).mean())
        return coverage, agreement

    @staticmethod
    def _confidence(coverage: float, agreement: float, n_tickets: int) -> float:
        size = min(1.0, math.log2(n_tickets + 1) / math.log2(6))  # 5+ tickets count as full support
        return round(0.5 * coverage + 0.3 * agreement + 0.2 * size, 3)

    def draft(self, tickets: Sequence[Ticket]) -> Draft:
        """Draft an article from resolved tickets (number, short_description, description, resolution)."""
        prepared, _ = _prepare_tickets(tickets)
        n = len(prepared)
        notes: list[str] = []
        units: list[_Unit] = []
        for t, ticket in enumerate(prepared):
            for fld in ("description", "resolution_notes"):
                parts = split_units(ticket[fld])
                units.extend(_Unit(p, t, fld, i / max(1, len(parts) - 1)) for i, p in enumerate(parts))
        titles = [t["short_description"] for t in prepared]
        title_pool = [s for s in titles if s.strip()]
        vectors = self._vectors([u.text for u in units] + title_pool) if units or title_pool else None

        title = ""
        if title_pool and vectors is not None:
            tv = vectors[len(units) :]
            sims_t = tv @ tv.T
            title = _clean_title(title_pool[int(np.argmax(sims_t.mean(axis=1)))])

        symptoms, cause, steps = "", None, []
        if units and vectors is not None:
            uv = vectors[: len(units)]
            sims = uv @ uv.T
            owners = np.array([u.ticket for u in units])
            scores = self._consensus(sims, owners, n)
            # Code blocks carry the actionable part of an answer: prefer them slightly.
            scores = scores + np.array([0.05 if "`" in u.text else 0.0 for u in units], dtype=np.float32)
            is_res = np.array([u.field == "resolution_notes" for u in units])
            if not is_res.any():
                notes.append("no resolution notes: steps taken from descriptions")
                is_res = np.ones(len(units), dtype=bool)
            is_desc = np.array([u.field == "description" for u in units])

            cause_idx = [
                i for i, u in enumerate(units) if _CAUSE_CUE.search(u.text) and not _is_boilerplate(u.text)
            ]
            if cause_idx:
                best = max(cause_idx, key=lambda i: scores[i])
                # A stray "due to" far from what the cluster agrees on is not the cause.
                share = 0.2 if _STRONG_CAUSE.search(units[best].text) else 0.5
                if scores[best] >= share * float(scores[is_res].max()):
                    cause = units[best].text
                else:
                    cause_idx = []
            res_scores = np.where(is_res, scores, -np.inf)
            if cause_idx:
                res_scores[best] = -np.inf
            chosen = [
                i
                for i in self._select(units, res_scores, sims, self.max_steps, steps=True)
                if np.isfinite(res_scores[i])
            ]
            chosen.sort(key=lambda i: (units[i].position, -scores[i]))
            steps = [units[i].text for i in chosen]

            desc_scores = np.where(is_desc, scores, -np.inf)
            picked = [
                i
                for i in self._select(units, desc_scores, sims, self.max_symptoms)
                if np.isfinite(desc_scores[i]) and units[i].text not in steps
            ]
            picked.sort(key=lambda i: (units[i].ticket, units[i].position))
            symptoms = " ".join(units[i].text for i in picked)
        if not symptoms and title_pool:
            symptoms = title_pool[0]
        if not title:
            title = _clean_title(symptoms or (steps[0] if steps else "Untitled article"))
        if not steps:
            notes.append("no usable resolution sentences")
        coverage, agreement = self._support(prepared, steps)
        return Draft(
            title=title,
            symptoms=symptoms,
            cause=cause,
            resolution_steps=steps,
            source_numbers=_source_numbers(prepared),
            confidence=self._confidence(coverage, agreement, n) if steps else 0.0,
            coverage=round(coverage, 3),
            method="extractive",
            notes=notes,
        )


class DraftParseError(ValueError):
    """The language model's answer is not a usable article."""


_SYSTEM_PROMPT = (
    "You write IT knowledge base articles from resolved service desk tickets. Use only facts found in the "
    "tickets, keep commands exact, write no personal data. Answer with one JSON object and nothing else: "
    '{"title": string, "symptoms": string, "cause": string or null, "resolution_steps": [string, ...]}.'
)


def parse_draft_answer(content: str, *, names: Sequence[str] = ()) -> dict[str, Any]:
    """Parse a model's JSON answer (tolerating code fences and surrounding prose) into article fields."""
    if not isinstance(content, str) or "{" not in content:
        raise DraftParseError("answer holds no JSON object")
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise DraftParseError(f"answer is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DraftParseError("answer is not a JSON object")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DraftParseError("answer has no title")
    steps = data.get("resolution_steps", data.get("steps"))
    if isinstance(steps, str):
        steps = [s for s in steps.splitlines() if s.strip()]
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise DraftParseError("answer has no resolution_steps list of strings")
    symptoms = data.get("symptoms") or ""
    if isinstance(symptoms, list):
        symptoms = " ".join(str(s) for s in symptoms)
    cause = data.get("cause")
    if cause is not None and not isinstance(cause, str):
        raise DraftParseError("cause must be a string or null")
    return {
        "title": _clean_title(scrub(title, names=names)),
        "symptoms": scrub(str(symptoms), names=names).strip(),
        "cause": scrub(cause, names=names).strip() or None if cause else None,
        "resolution_steps": [scrub(_BULLET.sub("", s).strip(), names=names) for s in steps][:20],
    }


class GenerativeDrafter:
    """Drafts with an OpenAI-compatible chat endpoint; falls back to ``ExtractiveDrafter`` on any trouble."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 30.0,
        *,
        fallback: ExtractiveDrafter | None = None,
        max_tickets: int = 12,
        max_chars_per_ticket: int = 1500,
        temperature: float = 0.2,
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.fallback = fallback
        self.max_tickets = max_tickets
        self.max_chars_per_ticket = max_chars_per_ticket
        self.temperature = temperature

    @property
    def configured(self) -> bool:
        """True when an endpoint and a model name are set."""
        return bool(self.base_url and self.model)

    @property
    def endpoint(self) -> str:
        """The chat-completions URL derived from ``base_url``."""
        base = (self.base_url or "").rstrip("/")
        if base.endswith("/chat/completions"):
            return base
        return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"

    def _fallback(self) -> ExtractiveDrafter:
        return self.fallback or ExtractiveDrafter()

    def build_messages(self, tickets: Sequence[Ticket]) -> list[dict[str, str]]:
        """Chat messages for a cluster; the ticket text is scrubbed of personal data first."""
        prepared = _prepare_tickets(tickets)[0][: self.max_tickets]
        blocks = []
        for t in prepared:
            body = (
                f"Ticket {t['number']}\nShort description: {t['short_description']}\n"
                f"Description: {t['description']}\nResolution: {t['resolution_notes']}"
            )
            blocks.append(body[: self.max_chars_per_ticket])
        user = "Write one knowledge article covering these resolved tickets.\n\n" + "\n\n---\n\n".join(blocks)
        return [{"role": "system", "content": _SYSTEM_PROMPT}, {"role": "user", "content": user}]

    def draft(self, tickets: Sequence[Ticket]) -> Draft:
        """Draft with the model, or extractively when the endpoint is unset, fails or answers junk."""
        prepared, names = _prepare_tickets(tickets)
        if not self.configured:
            return self._fall_back(tickets, "generative drafter not configured")
        import httpx

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {
            "model": self.model,
            "messages": self.build_messages(tickets),
            "temperature": self.temperature,
        }
        try:
            response = httpx.post(self.endpoint, json=body, headers=headers, timeout=self.timeout)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            fields = parse_draft_answer(content, names=names)
        except httpx.TimeoutException:
            return self._fall_back(tickets, f"generative endpoint timed out after {self.timeout:g} s")
        except httpx.HTTPStatusError as exc:
            return self._fall_back(tickets, f"generative endpoint answered HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            return self._fall_back(tickets, f"generative endpoint unreachable: {type(exc).__name__}")
        except (DraftParseError, ValueError, KeyError, IndexError, TypeError) as exc:
            return self._fall_back(tickets, f"generative answer unusable: {exc}")
        coverage, agreement = self._fallback()._support(prepared, fields["resolution_steps"])
        return Draft(
            **fields,
            source_numbers=_source_numbers(prepared),
            confidence=ExtractiveDrafter._confidence(coverage, agreement, len(prepared)),
            coverage=round(coverage, 3),
            method="generative",
            notes=[f"model {self.model}"],
        )

    def _fall_back(self, tickets: Sequence[Ticket], reason: str) -> Draft:
        draft = self._fallback().draft(tickets)
        draft.notes = [reason, *draft.notes]
        return draft
