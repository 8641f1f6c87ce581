"""What a triage model returns per input: a `Suggestion` with its confidence, alternatives and `Evidence`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, so suggestions serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def is_missing_label(value: Any) -> bool:
    """True for None, NaN and blank strings: rows with such labels carry no training signal."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _snippet(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


@dataclass(frozen=True)
class Evidence:
    """A training ticket close to the input that carries the suggested (or a nearby) label."""

    id: Any
    text: str
    label: Any
    similarity: float

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "id": _plain(self.id),
            "text": self.text,
            "label": _plain(self.label),
            "similarity": round(float(self.similarity), 4),
        }


@dataclass(frozen=True)
class Suggestion:
    """A triage suggestion: the value (None when abstaining), how sure, why, the runners-up and evidence."""

    value: Any
    confidence: float
    abstained: bool
    reason: str | None
    threshold: float
    alternatives: tuple[tuple[Any, float], ...]
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict:
        """JSON-serialisable form (alternatives as {value, probability} objects, best first)."""
        return {
            "value": _plain(self.value),
            "confidence": round(float(self.confidence), 4),
            "abstained": self.abstained,
            "reason": self.reason,
            "threshold": round(float(self.threshold), 4),
            "alternatives": [
                {"value": _plain(v), "probability": round(float(p), 4)} for v, p in self.alternatives
            ],
            "evidence": [e.to_dict() for e in self.evidence],
        }
