"""The suggestions a ticket (or free text) gets from the promoted triage models.

`suggest_fields` / `suggest_for_text` produce the `suggestions["fields"]` shape of the shared contract. A
field without a usable model says `status: "unavailable"` and why; it never raises. Models come from the
registry's `ModelCache`, so a promotion or rollback is served on the next ticket without a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.classify.enums import FieldMode, SuggestionStatus
from itsm_ai.config import Settings, get_settings
from itsm_ai.registry import store
from itsm_ai.registry.cache import LoadedModel, ModelCache, ModelUnavailable

log = logging.getLogger(__name__)


def field_mode(target: str, settings: Settings | None = None) -> FieldMode:
    """The configured mode of a target field (off, suggest, auto)."""
    settings = settings or get_settings()
    raw = settings.triage_modes.get(target, settings.triage_default_mode)
    try:
        return FieldMode(str(raw).strip().lower())
    except ValueError:
        log.warning("triage mode %r of %s is not off/suggest/auto; using suggest", raw, target)
        return FieldMode.suggest


def _not_a_triage_model(name: str, version: str, model: Any) -> str | None:
    if not hasattr(model, "predict_with_evidence"):
        return f"{name} {version} is not a triage model ({type(model).__name__})"
    return None


# The promoted triage models, reloaded on promotion or rollback (by the API, the CLI or another process).
CACHE = ModelCache(validate=_not_a_triage_model)


# ------------------------------------------------------------------------------------------ suggestions


def unavailable(name: str, reason: str, version: str | None = None) -> dict[str, Any]:
    """The contract entry of a field without a usable model."""
    return _entry(SuggestionStatus.unavailable, name, version, reason=reason)


def _entry(status: SuggestionStatus, name: str, version: str | None, **values: Any) -> dict[str, Any]:
    out = {
        "status": str(status),
        "value": None,
        "confidence": None,
        "threshold": None,
        "model": name,
        "version": version,
        "alternatives": [],
        "evidence": [],
        "reason": None,
        "feedback": None,
    }
    out.update(values)
    return out


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


class _OneBlasThread:
    """Context manager: BLAS (OpenBLAS) on one thread while a one-ticket prediction runs.

    A one-ticket prediction multiplies one vector by a few thousand: BLAS threads gain nothing there, and
    after a call OpenBLAS workers spin for about 0.1 s. On a small machine that spinning takes the cores
    the next MiniLM call needs (measured on 2 cores: 20 ms -> 50 ms per embedding). Nested and concurrent
    uses share one limit; the last one out restores the previous thread counts.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._controller: Any = None
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                try:
                    if self._controller is None:
                        # Built once: scanning the loaded libraries costs ~5 ms, limiting then ~0.04 ms.
                        from threadpoolctl import ThreadpoolController

                        self._controller = ThreadpoolController()
                    self._limiter = self._controller.limit(limits=1, user_api="blas")
                except Exception:  # noqa: BLE001 - a speed-up must never stop a suggestion
                    log.debug("could not limit BLAS threads", exc_info=True)
                    self._limiter = None
            self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None


_one_blas_thread = _OneBlasThread()


def predict_entry(loaded: LoadedModel, text: str, *, k_evidence: int = 3) -> dict[str, Any]:
    """Run one loaded model on one text and return its contract entry (suggested or abstained)."""
    with _one_blas_thread:
        suggestion = loaded.model.predict_with_evidence([text], k_alternatives=3, k_evidence=k_evidence)[0]
    status = SuggestionStatus.abstained if suggestion.abstained else SuggestionStatus.suggested
    return _entry(
        status,
        loaded.name,
        loaded.version,
        value=store.jsonable(suggestion.value),
        confidence=_round(suggestion.confidence),
        threshold=_round(suggestion.threshold),
        alternatives=[
            {"value": store.jsonable(v), "confidence": _round(p)} for v, p in suggestion.alternatives
        ],
        evidence=[
            {
                "number": None if e.id is None else str(e.id),
                "short_description": e.text,
                "label": store.jsonable(e.label),
                "similarity": _round(e.similarity),
            }
            for e in suggestion.evidence
        ],
        reason=suggestion.reason,
    )


def suggest_field(
    target: str, text: str, *, folder: Path | None = None, version: str | None = None, k_evidence: int = 3
) -> dict[str, Any]:
    """The contract entry for one field; `unavailable` (with the reason) instead of raising."""
    try:
        loaded = CACHE.get(target, version, folder=folder)
    except ModelUnavailable as exc:
        return unavailable(target, exc.reason, exc.version)
    try:
        return predict_entry(loaded, text, k_evidence=k_evidence)
    except Exception as exc:  # noqa: BLE001 - a broken model must never stop a ticket from being created
        log.exception("triage model %s %s failed to predict", target, loaded.version)
        return unavailable(target, f"the model failed to predict: {exc}", loaded.version)


def suggest_fields(
    text: str, *, targets: Sequence[str] | None = None, settings: Settings | None = None
) -> dict[str, dict[str, Any]]:
    """Suggestions for every configured target field of one text (mode off -> status off)."""
    settings = settings or get_settings()
    out = {}
    for target in targets if targets is not None else settings.triage_targets:
        if field_mode(target, settings) == FieldMode.off:
            out[target] = _entry(SuggestionStatus.off, target, None, reason="triage is off for this field")
        else:
            out[target] = suggest_field(
                target, text, folder=store.default_dir(settings), k_evidence=settings.triage_evidence
            )
    return out


def suggest_for_text(*, db_session: Session, text: str) -> dict[str, Any]:
    """The `fields` dict of the suggestions contract for free text, without creating a ticket."""
    return suggest_fields(text)
