"""Serving and training triage models on top of the pure core (estimator, registry, evaluation).

- `ModelCache` keeps loaded models per (models folder, name, version). Every lookup re-reads the tiny CURRENT
  file and stats the model file, so a promotion or rollback (by the API, the CLI or another process) is
  served on the next ticket without a restart, and a replaced or corrupted file is noticed.
- `suggest_fields` / `suggest_for_text` produce the `suggestions["fields"]` shape of the shared contract.
  A field without a usable model says `status: "unavailable"` and why; it never raises.
- Training data come from the tickets in the store (the latest agent feedback wins over the stored value)
  or a CSV; `train_model` picks the pipeline, evaluates it on a held-out part, refits on everything and
  saves a new registry version (promoted only when asked).
- A challenger (an unpromoted version run in shadow) is recorded per model in ``<name>/CHALLENGER``.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.classify import registry
from itsm_ai.classify.enums import FieldMode, SuggestionStatus
from itsm_ai.config import Settings, get_settings
from itsm_ai.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

CHALLENGER_FILE = "CHALLENGER"
# Ticket fields a model can be trained for (assignment_group is read as the group's name).
TRAINABLE_FIELDS = ("category", "subcategory", "priority", "impact", "urgency", "assignment_group")
INT_FIELDS = ("priority", "impact", "urgency")
FEATURE_CHOICES = ("auto", "tfidf", "embedding", "both")
RESOLVED_STATES = ("resolved", "closed", "cancelled")
ProgressFn = Callable[[float, str], None]


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


def predict_entry(loaded: LoadedModel, text: str, *, k_evidence: int = 3) -> dict[str, Any]:
    """Run one loaded model on one text and return its contract entry (suggested or abstained)."""
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


def shadow_predictions(text: str, *, settings: Settings | None = None) -> dict[str, dict[str, Any]]:
    """What each target's challenger (if one is set) would suggest; kept out of the displayed fields."""
    settings = settings or get_settings()
    folder = models_dir(settings)
    out = {}
    for target in settings.triage_targets:
        try:
            challenger = get_challenger(target, folder=folder)
        except registry.RegistryError:
            continue
        if challenger is None or field_mode(target, settings) == FieldMode.off:
            continue
        entry = suggest_field(target, text, folder=folder, version=challenger, k_evidence=0)
        out[target] = {
            key: entry[key] for key in ("status", "value", "confidence", "threshold", "model", "version")
        }
    return out


# ------------------------------------------------------------------------------------------ registry API


def _model_folder(name: str, folder: Path | None) -> Path:
    return registry._model_dir(name, folder or models_dir())


def get_challenger(name: str, *, folder: Path | None = None) -> str | None:
    """The version running in shadow for a model, or None."""
    path = _model_folder(name, folder) / CHALLENGER_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    return registry._check_version(text) if text else None


def set_challenger(name: str, version: str | None, *, folder: Path | None = None) -> str | None:
    """Run a saved version in shadow beside CURRENT (None stops it); returns the challenger."""
    root = _model_folder(name, folder)
    if version is not None:
        registry._check_version(version)
        if version not in registry.list_versions(name, models_dir=folder or models_dir()):
            raise registry.RegistryError(f"model {name!r} has no version {version!r}")
    root.mkdir(parents=True, exist_ok=True)
    registry._write_atomic(root / CHALLENGER_FILE, (version or "") + "\n")
    return version


def model_names(*, folder: Path | None = None) -> list[str]:
    """Names of the models in the registry folder."""
    root = Path(folder or models_dir())
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and registry._NAME_RE.match(p.name)
    )


def version_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The few metadata fields a model list shows."""
    evaluation = meta.get("evaluation") or {}
    params = meta.get("params") or {}
    return {
        "version": meta.get("version"),
        "created_at": meta.get("created_at"),
        "target": meta.get("target", meta.get("name")),
        "features": params.get("features"),
        "classes": meta.get("classes"),
        "data": meta.get("data"),
        "source": meta.get("source"),
        "selection_reason": (meta.get("selection") or {}).get("reason"),
        "holdout": {
            key: evaluation.get(key)
            for key in ("n", "accuracy", "macro_f1", "top3_accuracy", "coverage", "precision_at_threshold")
        }
        if evaluation
        else None,
    }


def describe_model(name: str, *, folder: Path | None = None) -> dict[str, Any]:
    """A model's versions (summaries), CURRENT and challenger."""
    root = folder or models_dir()
    versions = registry.list_versions(name, models_dir=root)
    if not versions:
        raise NotFoundError(f"model {name} not found")
    current = registry.current_version(name, models_dir=root)
    challenger = get_challenger(name, folder=root)
    items = []
    for version in versions:
        try:
            summary = version_summary(registry.read_metadata(name, version, models_dir=root))
        except registry.RegistryError as exc:
            summary = {"version": version, "error": str(exc)}
        summary["current"] = version == current
        summary["challenger"] = version == challenger
        items.append(summary)
    return {"name": name, "current": current, "challenger": challenger, "versions": items}


def list_models(*, folder: Path | None = None) -> list[dict[str, Any]]:
    """Every model in the registry with its versions."""
    out = []
    for name in model_names(folder=folder):
        try:
            out.append(describe_model(name, folder=folder))
        except NotFoundError:
            continue
    return out


# ------------------------------------------------------------------------------------------ training data


class DataError(ValueError):
    """Bad training or evaluation input; names the line and/or column."""

    def __init__(self, message: str, *, line: int | None = None, column: str | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class TrainingData:
    """Texts and labels (None for unlabelled rows), with ids and snippets kept as evidence."""

    texts: list[str]
    labels: list[Any]
    ids: list[Any]
    snippets: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def labelled(self) -> int:
        """Rows that carry a label."""
        return sum(1 for label in self.labels if label is not None)


def check_target(target: str) -> str:
    """A trainable ticket field, or 422 naming `target`."""
    if target not in TRAINABLE_FIELDS:
        raise InvalidInputError(
            f"target: {target!r} cannot be trained; one of {', '.join(TRAINABLE_FIELDS)}", field="target"
        )
    return target


def _label(value: Any, target: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if target in INT_FIELDS:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return str(value).strip()


def store_training_data(
    *, db_session: Session, target: str, record_types: Sequence[str] | None = None
) -> TrainingData:
    """Labelled tickets from the store; the latest agent feedback wins over the stored value.

    A value the model applied itself counts only once an agent confirmed it or the ticket was resolved,
    so the model does not learn from its own unreviewed guesses.
    """
    from itsm_ai.classify.models import TriageFeedback
    from itsm_ai.group.models import Group
    from itsm_ai.ticket.service import TICKET_SPECS

    check_target(target)
    record_types = list(record_types or get_settings().triage_record_types)
    feedback: dict[tuple[str, int], Any] = {}
    for row in db_session.execute(
        select(TriageFeedback.record_type, TriageFeedback.record_id, TriageFeedback.final_value)
        .where(TriageFeedback.field == target)
        .order_by(TriageFeedback.id)
    ):
        feedback[(row.record_type, row.record_id)] = row.final_value
    data = TrainingData([], [], [], [])
    counts = Counter()
    for record_type in record_types:
        spec = TICKET_SPECS.get(record_type)
        if spec is None:
            raise InvalidInputError(
                f"record_types: unknown ticket type {record_type!r}", field="record_types"
            )
        table = spec.model.__table__
        if target == "assignment_group":
            groups = Group.__table__
            label_col = groups.c.name
            stmt = select(
                table.c.id,
                table.c.number,
                table.c.short_description,
                table.c.description,
                table.c.state,
                table.c.suggestions,
                label_col.label("label"),
            ).select_from(table.outerjoin(groups, groups.c.id == table.c.assignment_group_id))
        else:
            stmt = select(
                table.c.id,
                table.c.number,
                table.c.short_description,
                table.c.description,
                table.c.state,
                table.c.suggestions,
                table.c[target].label("label"),
            )
        for row in db_session.execute(stmt.order_by(table.c.id)):
            label = _label(row.label, target)
            if (record_type, row.id) in feedback:
                label = _label(feedback[(record_type, row.id)], target)
                counts["feedback"] += 1
            else:
                entry = ((row.suggestions or {}).get("fields") or {}).get(target) or {}
                if (
                    entry.get("status") == SuggestionStatus.applied
                    and not entry.get("feedback")
                    and row.state not in RESOLVED_STATES
                    and label == entry.get("value")
                ):
                    label = None
                    counts["unconfirmed_model_values"] += 1
            data.texts.append(ticket_text(row.short_description, row.description))
            data.labels.append(label)
            data.ids.append(row.number)
            data.snippets.append(row.short_description or "")
    data.source = {
        "kind": "store",
        "record_types": record_types,
        "rows": len(data.texts),
        "labelled": data.labelled(),
        "feedback_labels": counts["feedback"],
        "unconfirmed_model_values_skipped": counts["unconfirmed_model_values"],
    }
    return data


def _decode_lines(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        for number, line in enumerate(raw.split(b"\n"), start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}: line {number} is not UTF-8 ({exc.reason})", line=number) from None
        raise


def csv_training_data(
    path: str | Path,
    *,
    text_cols: Sequence[str],
    label_col: str,
    target: str | None = None,
    require_labels: bool = False,
) -> TrainingData:
    """Texts (text columns joined like a ticket's short description and description) and labels from a CSV."""
    path = Path(path)
    if not text_cols:
        raise DataError("give at least one --text-col", column="text_col")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(io.StringIO(_decode_lines(raw, path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path} is empty", line=1) from None
    except csv.Error as exc:
        raise DataError(f"{path}: line 1: {exc}", line=1) from exc
    header = [h.strip() for h in header]
    for column in [*text_cols, label_col]:
        if column not in header:
            raise DataError(
                f"{path}: no column {column!r} (columns: {', '.join(header)})", line=1, column=column
            )
    text_idx = [header.index(c) for c in text_cols]
    label_idx = header.index(label_col)
    data = TrainingData([], [], [], [])
    try:
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}: line {line} has {len(row)} fields, the header has {len(header)}", line=line
                )
            texts = [row[i] for i in text_idx]
            raw_label = row[label_idx].strip()
            label = raw_label or None
            if label is not None and target in INT_FIELDS:
                try:
                    label = int(raw_label)
                except ValueError:
                    raise DataError(
                        f"{path}: line {line}, column {label_col!r}: {raw_label!r} is not a whole number",
                        line=line,
                        column=label_col,
                    ) from None
            if label is None and require_labels:
                raise DataError(
                    f"{path}: line {line}, column {label_col!r} is empty", line=line, column=label_col
                )
            data.texts.append(ticket_text(*texts))
            data.labels.append(label)
            data.ids.append(f"line {line}")
            data.snippets.append(next((t for t in texts if t.strip()), ""))
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: {exc}", line=reader.line_num) from exc
    if not data.texts:
        raise DataError(f"{path} has no data rows", line=2)
    data.source = {
        "kind": "csv",
        "path": str(path),
        "text_cols": list(text_cols),
        "label_col": label_col,
        "rows": len(data.texts),
        "labelled": data.labelled(),
    }
    return data


# ------------------------------------------------------------------------------------------ training


def _holdout_split(labels: list, test_size: float, random_state: int) -> tuple[list[int], list[int]] | None:
    """Stratified train/held-out row indexes over labelled rows, or None when there are too few."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    n = len(labels)
    if n < 40 or not 0 < test_size < 0.5:
        return None
    counts = Counter(labels)
    strata = [str(y) if counts[y] >= 5 else "__small__" for y in labels]
    if strata.count("__small__") == 1:
        common = str(counts.most_common(1)[0][0])
        strata = [common if s == "__small__" else s for s in strata]
    train, test = train_test_split(
        np.arange(n), test_size=test_size, stratify=strata, random_state=random_state
    )
    return sorted(train.tolist()), sorted(test.tolist())


@dataclass
class TrainResult:
    """What training produced."""

    name: str
    version: str
    promoted: bool
    metadata: dict[str, Any]


def train_model(
    data: TrainingData,
    *,
    target: str,
    name: str | None = None,
    features: str | None = None,
    target_precision: float | None = None,
    min_class_count: int | None = None,
    holdout: float = 0.2,
    random_state: int = 0,
    promote: bool = False,
    folder: Path | None = None,
    progress: ProgressFn | None = None,
    extra_params: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Select the pipeline, evaluate it on a held-out part, refit on all labelled rows and save a version."""
    from itsm_ai.classify.estimator import TriageClassifier
    from itsm_ai.classify.evaluation import evaluate
    from itsm_ai.classify.selection import DEFAULT_CANDIDATES, compare_pipelines

    settings = get_settings()
    name = name or target
    features = features or settings.triage_features
    if features not in FEATURE_CHOICES:
        raise DataError(
            f"features: must be one of {', '.join(FEATURE_CHOICES)}, got {features!r}", column="features"
        )
    report = progress or (lambda fraction, message: None)
    keep = [i for i, label in enumerate(data.labels) if label is not None]
    texts = [data.texts[i] for i in keep]
    labels = [data.labels[i] for i in keep]
    ids = [data.ids[i] for i in keep]
    snippets = [data.snippets[i] for i in keep]
    base = {
        "target_precision": target_precision or settings.triage_target_precision,
        "min_class_count": min_class_count or settings.triage_min_class_count,
        "embedding_backend": settings.embedding_backend,
        **settings.triage_train_params,
        **(extra_params or {}),
    }
    counts = Counter(labels)
    trainable = [c for c, n in counts.items() if n >= base["min_class_count"]]
    if len(trainable) < 2:
        raise DataError(
            f"{target}: need at least 2 values with >= {base['min_class_count']} labelled tickets each, "
            f"got {len(trainable)} (labelled rows: {len(labels)}; top: {dict(counts.most_common(5))})",
            column=target,
        )
    report(0.05, f"{len(labels)} labelled rows, {len(counts)} values ({len(trainable)} trainable)")
    split = _holdout_split(labels, holdout, random_state)
    fit_idx = split[0] if split else list(range(len(labels)))

    selection = None
    if features == "auto":
        report(0.1, "comparing pipelines by cross-validation")
        selection = compare_pipelines(
            [texts[i] for i in fit_idx],
            [labels[i] for i in fit_idx],
            candidates=DEFAULT_CANDIDATES,
            base_params={**base, "min_class_count": min(base["min_class_count"], 10)},
            random_state=random_state,
        )
        params = {**base, **DEFAULT_CANDIDATES[selection["selected"]]}
        report(0.5, selection["reason"])
    else:
        params = {**base, "features": features}

    evaluation = None
    if split is not None:
        report(0.55, f"fitting on {len(split[0])} rows to evaluate on {len(split[1])} held-out rows")
        try:
            # The probe sees (1 - holdout) of the rows: scale the class minimum so it learns the same classes.
            scaled = max(5, int(params["min_class_count"] * (1 - holdout)))
            probe = TriageClassifier(**{**params, "min_class_count": scaled}, random_state=random_state).fit(
                [texts[i] for i in split[0]], [labels[i] for i in split[0]]
            )
            evaluation = evaluate(probe, [texts[i] for i in split[1]], [labels[i] for i in split[1]])
            evaluation["holdout_fraction"] = holdout
        except ValueError as exc:  # a class too small for the training part: evaluate nothing, train anyway
            evaluation = None
            log.warning("held-out evaluation of %s skipped: %s", name, exc)
        report(0.75, "held-out evaluation done")
    report(0.8, f"fitting the final model on {len(labels)} rows")
    try:
        model = TriageClassifier(**params, random_state=random_state).fit(
            texts, labels, sample_ids=ids, sample_texts=snippets
        )
    except ValueError as exc:
        raise DataError(f"{target}: {exc}", column=target) from exc
    meta = {
        "target": target,
        "data": registry.data_snapshot(texts, labels),
        "source": data.source,
        "label_counts": {str(k): v for k, v in counts.most_common()},
        "selection": selection,
        "evaluation": evaluation,
        "train_params": {"features": features, "holdout": holdout, "random_state": random_state},
        **(metadata or {}),
    }
    report(0.95, "saving")
    version = registry.save(
        model, name=name, metadata=meta, models_dir=folder or models_dir(), promote=promote
    )
    report(1.0, f"saved {name} {version}" + (" (promoted)" if promote else ""))
    return TrainResult(
        name, version, promote, registry.read_metadata(name, version, models_dir=folder or models_dir())
    )


def evaluate_current(
    data: TrainingData, *, name: str, version: str | None = None, folder: Path | None = None
) -> dict[str, Any]:
    """Evaluate the CURRENT (or given) version of a model on labelled data."""
    from itsm_ai.classify.evaluation import evaluate

    loaded = CACHE.get(name, version, folder=folder)
    keep = [i for i, label in enumerate(data.labels) if label is not None]
    if not keep:
        raise DataError("no labelled rows to evaluate")
    report = evaluate(loaded.model, [data.texts[i] for i in keep], [data.labels[i] for i in keep])
    report["model"] = name
    report["version"] = loaded.version
    report["unlabelled_rows_skipped"] = len(data.labels) - len(keep)
    return report


# ------------------------------------------------------------------------------------------ feedback & shadow


def record_feedback(
    *,
    db_session: Session,
    record_type: str,
    record_id: int,
    field_name: str,
    suggested: Any,
    final: Any,
    action: str,
    model: str | None,
    version: str | None,
    user,
) -> None:
    """Store one accept/override as a training label."""
    from itsm_ai.classify.models import TriageFeedback
    from itsm_ai.database import utcnow

    db_session.add(
        TriageFeedback(
            record_type=record_type,
            record_id=record_id,
            field=field_name,
            suggested_value=suggested,
            final_value=final,
            action=str(action),
            model=model,
            model_version=version,
            user_id=getattr(user, "id", None),
            username=getattr(user, "username", None),
            at=utcnow(),
        )
    )


def _final_value(obj: Any, target: str) -> Any:
    if target == "assignment_group":
        group = getattr(obj, "assignment_group_ref", None)
        return group.name if group is not None else None
    return getattr(obj, target, None)


def shadow_report(
    *, db_session: Session, name: str, record_types: Sequence[str] | None = None, limit: int = 20_000
) -> dict[str, Any]:
    """Live precision and coverage of champion vs challenger against tickets' final field values.

    A ticket counts once its field has a final value an agent stands behind: feedback given, or the ticket
    resolved/closed. Coverage is the share of such tickets where the model made a suggestion; precision the
    share of those suggestions that equal the final value.
    """
    from itsm_ai.ticket.service import TICKET_SPECS

    record_types = list(record_types or get_settings().triage_record_types)
    sides: dict[str, Counter] = {"champion": Counter(), "challenger": Counter()}
    versions: dict[str, Counter] = {"champion": Counter(), "challenger": Counter()}
    for record_type in record_types:
        spec = TICKET_SPECS[record_type]
        model = spec.model
        stmt = select(model).where(model.suggestions.isnot(None)).order_by(model.id.desc()).limit(limit)
        for obj in db_session.scalars(stmt).unique():
            suggestions = obj.suggestions or {}
            shadow = (suggestions.get("shadow") or {}).get(name)
            champion = (suggestions.get("fields") or {}).get(name)
            if not shadow or not champion:
                continue
            if not champion.get("feedback") and obj.state not in RESOLVED_STATES:
                continue
            final = _label(_final_value(obj, name), name)
            if final is None:
                continue
            for side, entry in (("champion", champion), ("challenger", shadow)):
                stats = sides[side]
                stats["tickets"] += 1
                if entry.get("version"):
                    versions[side][entry["version"]] += 1
                if entry.get("status") in (SuggestionStatus.suggested, SuggestionStatus.applied):
                    stats["suggested"] += 1
                    if entry.get("value") is not None and _label(entry["value"], name) == final:
                        stats["correct"] += 1
    out: dict[str, Any] = {"name": name, "current_version": None, "challenger_version": None}
    try:
        out["current_version"] = registry.current_version(name, models_dir=models_dir())
        out["challenger_version"] = get_challenger(name)
    except registry.RegistryError:
        pass
    for side, stats in sides.items():
        n, suggested, correct = stats["tickets"], stats["suggested"], stats["correct"]
        out[side] = {
            "versions": dict(versions[side]),
            "tickets": n,
            "suggested": suggested,
            "coverage": suggested / n if n else None,
            "precision": correct / suggested if suggested else None,
            "correct": correct,
        }
    return out
