"""Serving triage models: the model cache and the suggestions a ticket (or free text) gets.

- `ModelCache` keeps loaded models per (models folder, name, version). Every lookup re-reads the tiny CURRENT
  file and stats the model file, so a promotion or rollback (by the API, the CLI or another process) is
  served on the next ticket without a restart, and a replaced or corrupted file is noticed.
- `suggest_fields` / `suggest_for_text` produce the `suggestions["fields"]` shape of the shared contract.
  A field without a usable model says `status: "unavailable"` and why; it never raises.

The rest of triage lives beside this module: `training_data` (labelled rows from the store or a CSV),
`training` (train, evaluate, save a version), `catalog` (models, versions, CURRENT and challenger),
`shadow` (challenger runs in shadow and their live report), `feedback` (agents' accept/override) and
`jobs` (training in a background thread). Their public names stay importable from here too.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.classify import registry
from itsm_ai.classify.enums import FieldMode, SuggestionStatus
from itsm_ai.config import Settings, get_settings

log = logging.getLogger(__name__)


def ticket_text(*parts: Any) -> str:
    """One text from a ticket's short description and description (or more columns), as models see it."""
    return " . ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def models_dir(settings: Settings | None = None) -> Path:
    """The registry folder from the settings."""
    return Path((settings or get_settings()).models_dir)


def field_mode(target: str, settings: Settings | None = None) -> FieldMode:
    """The configured mode of a target field (off, suggest, auto)."""
    settings = settings or get_settings()
    raw = settings.triage_modes.get(target, settings.triage_default_mode)
    try:
        return FieldMode(str(raw).strip().lower())
    except ValueError:
        log.warning("triage mode %r of %s is not off/suggest/auto; using suggest", raw, target)
        return FieldMode.suggest


# ------------------------------------------------------------------------------------------ model cache


class ModelUnavailable(Exception):
    """No usable model: none trained or promoted, or its files are missing or corrupt."""

    def __init__(self, reason: str, version: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.version = version


@dataclass
class LoadedModel:
    """A model loaded from the registry, with the file stamp it was loaded from."""

    name: str
    version: str
    model: Any
    metadata: dict[str, Any]
    stamp: tuple[int, int]


@dataclass
class _Failure:
    reason: str
    stamp: tuple[int, int]


class ModelCache:
    """Loaded models by (folder, name, version); reloads when CURRENT or the model file changes."""

    def __init__(self, max_entries: int = 16):
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str], LoadedModel | _Failure] = OrderedDict()

    def clear(self) -> None:
        """Forget every loaded model."""
        with self._lock:
            self._entries.clear()

    def get(self, name: str, version: str | None = None, *, folder: Path | None = None) -> LoadedModel:
        """The CURRENT (or the given) version of a model, or ModelUnavailable saying why."""
        root = Path(folder or models_dir()).resolve()
        try:
            if version is None:
                version = registry.current_version(name, models_dir=root)
                if version is None:
                    raise ModelUnavailable(f"no {name} model has been trained and promoted yet")
            model_path = registry._inside(root, name, version, registry.MODEL_FILE)
        except registry.RegistryError as exc:
            raise ModelUnavailable(str(exc), version) from exc
        try:
            st = model_path.stat()
        except OSError:
            raise ModelUnavailable(f"the model file of {name} {version} is missing", version) from None
        stamp = (st.st_mtime_ns, st.st_size)
        key = (str(root), name, version)
        entry = self._lookup(key, stamp)
        if entry is None:
            with self._load_lock:  # one thread loads; the others wait and reuse it
                entry = self._lookup(key, stamp)
                if entry is None:
                    entry = self._load(root, name, version, stamp)
                    with self._lock:
                        self._entries[key] = entry
                        self._entries.move_to_end(key)
                        while len(self._entries) > self.max_entries:
                            self._entries.popitem(last=False)
        if isinstance(entry, _Failure):
            raise ModelUnavailable(entry.reason, version)
        return entry

    def _lookup(self, key, stamp) -> LoadedModel | _Failure | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.stamp == stamp:
                self._entries.move_to_end(key)
                return entry
        return None

    @staticmethod
    def _load(root: Path, name: str, version: str, stamp) -> LoadedModel | _Failure:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", registry.ModelVersionWarning)
                model = registry.load(name, version, models_dir=root)
            for warning in caught:
                log.warning("%s", warning.message)
            meta = registry.read_metadata(name, version, models_dir=root)
        except registry.RegistryError as exc:
            log.warning("triage model %s %s is unusable: %s", name, version, exc)
            return _Failure(str(exc), stamp)
        if not hasattr(model, "predict_with_evidence"):
            return _Failure(f"{name} {version} is not a triage model ({type(model).__name__})", stamp)
        return LoadedModel(name, version, model, meta, stamp)


CACHE = ModelCache()


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
        value=registry._jsonable(suggestion.value),
        confidence=_round(suggestion.confidence),
        threshold=_round(suggestion.threshold),
        alternatives=[
            {"value": registry._jsonable(v), "confidence": _round(p)} for v, p in suggestion.alternatives
        ],
        evidence=[
            {
                "number": None if e.id is None else str(e.id),
                "short_description": e.text,
                "label": registry._jsonable(e.label),
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
                target, text, folder=models_dir(settings), k_evidence=settings.triage_evidence
            )
    return out


def suggest_for_text(*, db_session: Session, text: str) -> dict[str, Any]:
    """The `fields` dict of the suggestions contract for free text, without creating a ticket."""
    return suggest_fields(text)


# ------------------------------------------------------------------------------------------ moved names

# Callers across the project (UI, demo, notebook, tests) reach triage through this module. Names that moved
# to their own modules resolve lazily: those modules import this one, so importing them here makes a cycle.
_MOVED = {
    "catalog": (
        "CHALLENGER_FILE",
        "get_challenger",
        "set_challenger",
        "model_names",
        "version_summary",
        "describe_model",
        "list_models",
    ),
    "training_data": (
        "TRAINABLE_FIELDS",
        "INT_FIELDS",
        "RESOLVED_STATES",
        "DataError",
        "TrainingData",
        "check_target",
        "store_training_data",
        "csv_training_data",
    ),
    "training": ("FEATURE_CHOICES", "ProgressFn", "TrainResult", "train_model", "evaluate_current"),
    "shadow": ("shadow_predictions", "shadow_report"),
    "feedback": ("record_feedback",),
}
_MODULE_OF = {name: module for module, names in _MOVED.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"itsm_ai.classify.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
