"""Per-class confidence thresholds that reach a target precision, and their application (pure numpy).

A suggestion for class c is made only when c is the top class and its probability is at least the threshold
of c. `per_class_thresholds` chooses, on held-out probabilities, the LOWEST threshold (so the most coverage)
at which the held-out predictions of c at or above it are right at least `target_precision` of the time,
counting at least `min_support` such predictions. A class that never gets there gets `ALWAYS_ABSTAIN` (> 1),
so it is never suggested automatically. Held-out rows whose true label is not among `classes` (rare queues
the model was not trained on) count as errors of whatever class they were given, which keeps the precision
estimate honest for the traffic the model will really see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

ALWAYS_ABSTAIN = 1.01


def _labels_index(y_true: Sequence, classes: Sequence) -> np.ndarray:
    """Index of each true label in classes, -1 when the label is not a class."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(y, -1) for y in y_true], dtype=np.int64)


def _check(probabilities, y_true, classes) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"probabilities must have shape (n, {len(classes)}), got {proba.shape}")
    if y_true is not None and len(y_true) != proba.shape[0]:
        raise ValueError(f"y_true has {len(y_true)} labels for {proba.shape[0]} rows of probabilities")
    return proba, (None if y_true is None else _labels_index(list(y_true), list(classes)))


def threshold_for_precision(
    confidence: np.ndarray, correct: np.ndarray, *, target_precision: float, min_support: int = 1
) -> float:
    """Lowest confidence t such that predictions with confidence >= t have precision >= target."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.size == 0:
        return ALWAYS_ABSTAIN
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    hits = np.cumsum(correct[order])
    support = np.arange(1, conf.size + 1)
    precision = hits / support
    # A threshold can only sit at the end of a run of equal confidences: "conf >= t" takes all ties.
    boundary = np.append(conf[1:] != conf[:-1], True)
    ok = boundary & (support >= max(1, min_support)) & (precision >= target_precision - 1e-12)
    if not ok.any():
        return ALWAYS_ABSTAIN
    return float(conf[np.flatnonzero(ok)[-1]])


def per_class_thresholds(
    probabilities,
    y_true: Sequence,
    classes: Sequence,
    *,
    target_precision: float = 0.95,
    min_support: int = 10,
) -> dict:
    """Per-class threshold on the top-class probability reaching target_precision on held-out rows."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    proba, truth = _check(probabilities, y_true, classes)
    top = proba.argmax(axis=1)
    conf = proba[np.arange(proba.shape[0]), top]
    out = {}
    for k, label in enumerate(classes):
        mask = top == k
        out[label] = threshold_for_precision(
            conf[mask], truth[mask] == k, target_precision=target_precision, min_support=min_support
        )
    return out


def apply_thresholds(
    probabilities, classes: Sequence, thresholds: Mapping
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (top class index, its probability, its threshold, accepted mask) for each row."""
    proba, _ = _check(probabilities, None, classes)
    top = proba.argmax(axis=1)
    conf = proba[np.arange(proba.shape[0]), top]
    per_class = np.array([float(thresholds.get(c, ALWAYS_ABSTAIN)) for c in classes], dtype=np.float64)
    limit = per_class[top] if len(classes) else np.zeros(0)
    return top, conf, limit, conf >= limit


def precision_coverage(probabilities, y_true: Sequence, classes: Sequence, thresholds: Mapping) -> dict:
    """Coverage (share of rows suggested) and precision of the suggested rows, overall."""
    proba, truth = _check(probabilities, y_true, classes)
    top, _, _, accepted = apply_thresholds(proba, classes, thresholds)
    n_accepted = int(accepted.sum())
    n_correct = int((accepted & (top == truth)).sum())
    return {
        "n": int(proba.shape[0]),
        "suggested": n_accepted,
        "coverage": n_accepted / proba.shape[0] if proba.shape[0] else 0.0,
        "precision": n_correct / n_accepted if n_accepted else None,
    }
