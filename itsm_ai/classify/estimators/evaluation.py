"""Evaluation of a triage model on labelled tickets: accuracy, macro-F1, top-3, abstention, calibration.

`evaluate` returns a JSON-serialisable dict; `format_report` renders it as a plain-text table for the CLI.
Labels the model never predicts (rare classes left out of training) stay in the metrics as misses, so the
numbers describe the traffic the model will really see. Brier score is the multi-class one,
mean over rows of sum_k (p_k - [y = k])^2 (0 is perfect, 2 the worst).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from itsm_ai.classify.estimators.suggestion import _plain, is_missing_label
from itsm_ai.classify.estimators.thresholds import ALWAYS_ABSTAIN, apply_thresholds


def brier_score(probabilities, y_true: Sequence, classes: Sequence) -> float:
    """Multi-class Brier score; a true label outside `classes` has an all-zero target row."""
    proba = np.asarray(probabilities, dtype=np.float64)
    lookup = {c: i for i, c in enumerate(classes)}
    target = np.zeros_like(proba)
    for row, label in enumerate(y_true):
        if label in lookup:
            target[row, lookup[label]] = 1.0
    return float(((proba - target) ** 2).sum(axis=1).mean()) if len(proba) else 0.0


def reliability_bins(confidence, correct, n_bins: int = 10) -> dict:
    """Binned top-class confidence vs accuracy (a reliability curve) and the expected calibration error."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        mask = which == b
        count = int(mask.sum())
        mean_conf = float(confidence[mask].mean()) if count else None
        accuracy = float(correct[mask].mean()) if count else None
        if count:
            ece += count / confidence.size * abs(mean_conf - accuracy)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_confidence": mean_conf,
                "accuracy": accuracy,
            }
        )
    return {"bins": bins, "ece": float(ece)}


def _sorted_labels(labels) -> list:
    labels = list(labels)
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def evaluate(model, texts, y_true: Sequence, *, k: int = 3, n_bins: int = 10) -> dict[str, Any]:
    """Score a fitted triage model on labelled inputs; rows without a label are skipped."""
    texts = list(texts.to_dict("records") if hasattr(texts, "columns") else texts)
    labels = list(y_true)
    if len(texts) != len(labels):
        raise ValueError(f"texts has {len(texts)} rows but y_true has {len(labels)} labels")
    keep = [i for i, label in enumerate(labels) if not is_missing_label(label)]
    texts = [texts[i] for i in keep]
    truth = [_plain(labels[i]) for i in keep]
    if not truth:
        raise ValueError("no labelled rows to evaluate")
    classes = [_plain(c) for c in model.classes_]
    thresholds = getattr(model, "thresholds_", None) or dict.fromkeys(classes, 0.0)
    proba = np.asarray(model.predict_proba(texts), dtype=np.float64)
    lookup = {c: i for i, c in enumerate(classes)}
    truth_idx = np.array([lookup.get(t, -1) for t in truth])
    top, conf, _, accepted = apply_thresholds(proba, classes, thresholds)
    predicted = [classes[i] for i in top]
    correct = top == truth_idx
    order = np.argsort(-proba, axis=1)[:, :k]
    top_k = (order == truth_idx[:, None]).any(axis=1)

    all_labels = _sorted_labels(set(truth) | set(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=all_labels, zero_division=0
    )
    per_class = {}
    for j, label in enumerate(all_labels):
        is_pred = (top == lookup[label]) if label in lookup else np.zeros(len(truth), dtype=bool)
        is_true = truth_idx == lookup[label] if label in lookup else np.array([t == label for t in truth])
        suggested = int((is_pred & accepted).sum())
        per_class[str(label)] = {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
            "trained": label in lookup,
            "threshold": float(thresholds.get(label, ALWAYS_ABSTAIN)) if label in lookup else None,
            "suggested": suggested,
            "precision_at_threshold": float((is_pred & accepted & correct).sum() / suggested)
            if suggested
            else None,
            "coverage": float((is_true & accepted).sum() / is_true.sum()) if is_true.any() else None,
            "recall_at_threshold": float((is_true & accepted & correct).sum() / is_true.sum())
            if is_true.any()
            else None,
        }
    n_suggested = int(accepted.sum())
    return {
        "n": len(truth),
        "n_classes": len(all_labels),
        "n_trained_classes": len(classes),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(truth, predicted, labels=all_labels, average="macro", zero_division=0)),
        "macro_f1_trained_classes": float(
            f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)
        ),
        f"top{k}_accuracy": float(top_k.mean()),
        "coverage": n_suggested / len(truth),
        "precision_at_threshold": float((accepted & correct).sum() / n_suggested) if n_suggested else None,
        "target_precision": getattr(model, "target_precision", None),
        "brier": brier_score(proba, truth, classes),
        "reliability": reliability_bins(conf, correct, n_bins),
        "per_class": per_class,
        "confusion": {
            "labels": [str(label) for label in all_labels],
            "matrix": confusion_matrix(truth, predicted, labels=all_labels).tolist(),
        },
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_report(report: dict) -> str:
    """Plain-text summary and per-class table of an `evaluate` result."""
    top_key = next((key for key in report if key.startswith("top") and key.endswith("_accuracy")), None)
    lines = [
        f"rows {report['n']}  classes {report['n_classes']} (trained {report['n_trained_classes']})",
        f"accuracy {_fmt(report['accuracy'])}  macro-F1 {_fmt(report['macro_f1'])}"
        + (f"  {top_key.replace('_', ' ')} {_fmt(report[top_key])}" if top_key else ""),
        f"coverage {_fmt(report['coverage'])} at precision {_fmt(report['precision_at_threshold'])}"
        f" (target {_fmt(report.get('target_precision'), 2)})",
        f"Brier {_fmt(report['brier'])}  ECE {_fmt(report['reliability']['ece'])}",
        "",
    ]
    width = max([5] + [len(label) for label in report["per_class"]])
    header = (
        f"{'class':<{width}}  {'prec':>6} {'recall':>6} {'f1':>6} {'support':>7}  {'thresh':>6} "
        f"{'cover':>6} {'p@thr':>6}"
    )
    lines += [header, "-" * len(header)]
    rows = sorted(report["per_class"].items(), key=lambda kv: -kv[1]["support"])
    for label, m in rows:
        threshold = m["threshold"]
        thr = "never" if threshold is not None and threshold >= ALWAYS_ABSTAIN else _fmt(threshold, 2)
        if not m["trained"]:
            thr = "rare"
        lines.append(
            f"{label:<{width}}  {_fmt(m['precision']):>6} {_fmt(m['recall']):>6} {_fmt(m['f1']):>6} "
            f"{m['support']:>7}  {thr:>6} {_fmt(m['coverage'], 2):>6} "
            f"{_fmt(m['precision_at_threshold'], 2):>6}"
        )
    lines += ["", "reliability (confidence bin: count, mean confidence, accuracy)"]
    for b in report["reliability"]["bins"]:
        if b["count"]:
            lines.append(
                f"  {b['lower']:.1f}-{b['upper']:.1f}: {b['count']:>6}  {_fmt(b['mean_confidence'])}  "
                f"{_fmt(b['accuracy'])}"
            )
    return "\n".join(lines)
