"""The offline drafter, and the ``Draft`` every drafter returns.

``ExtractiveDrafter`` scrubs personal data, strips HTML, cuts the texts into sentences (a code block is one
unit, joined to the sentence that introduces it; see ``text``), scores each sentence by consensus (its mean
best similarity to the other tickets of the cluster, TF-IDF or embeddings), drops boilerplate and
near-duplicates, and orders the chosen resolution steps by where they appear in their tickets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from itsm_ai.knowledge.drafting.text import (
    PLACEHOLDER,
    Ticket,
    clean_title,
    is_boilerplate,
    is_step,
    prepare_tickets,
    split_units,
    ticket_numbers,
)
from itsm_ai.knowledge.tokens import tokenize

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
                self.encoder.encode([PLACEHOLDER.sub(" ", t) for t in texts]), dtype=np.float32
            )
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            tokenizer=tokenize, lowercase=False, token_pattern=None, sublinear_tf=True
        )
        try:
            matrix = vectorizer.fit_transform([PLACEHOLDER.sub(" ", t).strip("`") for t in texts])
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
            if is_boilerplate(units[i].text) or (steps and not is_step(units[i].text)):
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
        prepared, _ = prepare_tickets(tickets)
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
        prepared, _ = prepare_tickets(tickets)
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
            title = clean_title(title_pool[int(np.argmax(sims_t.mean(axis=1)))])

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
                i for i, u in enumerate(units) if _CAUSE_CUE.search(u.text) and not is_boilerplate(u.text)
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
            title = clean_title(symptoms or (steps[0] if steps else "Untitled article"))
        if not steps:
            notes.append("no usable resolution sentences")
        coverage, agreement = self._support(prepared, steps)
        return Draft(
            title=title,
            symptoms=symptoms,
            cause=cause,
            resolution_steps=steps,
            source_numbers=ticket_numbers(prepared),
            confidence=self._confidence(coverage, agreement, n) if steps else 0.0,
            coverage=round(coverage, 3),
            method="extractive",
            notes=notes,
        )
