"""How a served triage model does on labelled data: the CURRENT (or a given) version, as `itsm-ai evaluate`
reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from itsm_ai.classify.estimators.evaluation import evaluate
from itsm_ai.classify.serving.suggestions import CACHE
from itsm_ai.classify.training.data import DataError, TrainingData


def evaluate_current(
    data: TrainingData, *, name: str, version: str | None = None, folder: Path | None = None
) -> dict[str, Any]:
    """Evaluate the CURRENT (or given) version of a model on labelled data."""
    loaded = CACHE.get(name, version, folder=folder)
    keep = [i for i, label in enumerate(data.labels) if label is not None]
    if not keep:
        raise DataError("no labelled rows to evaluate")
    report = evaluate(loaded.model, [data.texts[i] for i in keep], [data.labels[i] for i in keep])
    report["model"] = name
    report["version"] = loaded.version
    report["unlabelled_rows_skipped"] = len(data.labels) - len(keep)
    return report
