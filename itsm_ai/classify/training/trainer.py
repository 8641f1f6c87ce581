"""Training triage models: pick the pipeline, evaluate it on a held-out part, refit on everything and save a
new registry version (promoted only when asked).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsm_ai.classify.training.data import DataError, TrainingData
from itsm_ai.config import get_settings
from itsm_ai.registry import store

log = logging.getLogger(__name__)

FEATURE_CHOICES = ("auto", "tfidf", "embedding", "both")
ProgressFn = Callable[[float, str], None]


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
    candidates: dict[str, dict[str, Any]] | None = None,
) -> TrainResult:
    """Select the pipeline, evaluate it on a held-out part, refit on all labelled rows and save a version.

    With features "auto" the pipeline is the CV winner among `candidates` (default `DEFAULT_CANDIDATES`)
    on the rows left after the held-out part, ranked by the field's `triage_selection_metric`.
    """
    from itsm_ai.classify.estimators.classifier import TriageClassifier
    from itsm_ai.classify.estimators.evaluation import evaluate
    from itsm_ai.classify.estimators.selection import DEFAULT_CANDIDATES, compare_pipelines

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
    candidates = dict(candidates or DEFAULT_CANDIDATES)
    if features == "auto":
        report(0.1, "comparing pipelines by cross-validation")
        selection = compare_pipelines(
            [texts[i] for i in fit_idx],
            [labels[i] for i in fit_idx],
            candidates=candidates,
            base_params={**base, "min_class_count": min(base["min_class_count"], 10)},
            random_state=random_state,
            metric=settings.triage_selection_metric.get(target, "macro_f1"),
        )
        params = {**base, **candidates[selection["selected"]]}
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
        "data": store.data_snapshot(texts, labels),
        "source": data.source,
        "label_counts": {str(k): v for k, v in counts.most_common()},
        "selection": selection,
        "evaluation": evaluation,
        "train_params": {"features": features, "holdout": holdout, "random_state": random_state},
        **(metadata or {}),
    }
    report(0.95, "saving")
    version = store.save(model, name=name, metadata=meta, models_dir=folder, promote=promote)
    report(1.0, f"saved {name} {version}" + (" (promoted)" if promote else ""))
    return TrainResult(name, version, promote, store.read_metadata(name, version, models_dir=folder))
