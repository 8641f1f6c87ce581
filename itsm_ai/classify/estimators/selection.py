"""Pick a triage pipeline per target by stratified cross-validation on macro-F1, and record why.

(``metric="accuracy"`` ranks by accuracy instead, for targets judged on accuracy.)

The candidates are parameter sets of `TriageClassifier` (by default `DEFAULT_CANDIDATES`: the three
feature kinds, the strongest simple baseline calibrated, and "both" without class weights). Each is scored
by k-fold stratified CV on the data it is given (the training part only: never pass the evaluation split).
The winner is the candidate with the best mean macro-F1, except that a candidate listed earlier (the
cheaper ones come first) within `tolerance` of the best is preferred: a difference that small is within
fold noise and not worth the extra cost. The returned record goes into the model's metadata.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from itsm_ai.classify.estimators.classifier import TriageClassifier
from itsm_ai.classify.estimators.suggestion import _plain, is_missing_label

METRICS = {"macro_f1": "macro-F1", "accuracy": "accuracy"}
# Cheapest first. "tfidf_svc" is the strongest simple baseline (word 1-2 + char 2-5 TF-IDF, LinearSVC C=1,
# no class weights, no neighbour vote), calibrated so that it can abstain. "both" stacks word + char TF-IDF
# with the sentence embedding in one calibrated linear model (and blends in a vote of the nearest training
# tickets); "both_unweighted" drops the balanced class weights, which buys accuracy on a desk where one
# queue takes most tickets (ticket_assignment.csv: GRP_0 has 46%).
DEFAULT_CANDIDATES: dict[str, dict[str, Any]] = {
    "tfidf": {"features": "tfidf"},
    "tfidf_svc": {"features": "tfidf", "C": 1.0, "class_weight": None, "knn_weight": 0.0, "min_df": 1},
    "embedding": {"features": "embedding"},
    "both": {"features": "both"},
    "both_unweighted": {"features": "both", "class_weight": None},
}


def _labelled(X, y) -> tuple[list, list]:
    X = list(X.to_dict("records") if hasattr(X, "columns") else X)
    y = list(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    keep = [i for i, label in enumerate(y) if not is_missing_label(label)]
    return [X[i] for i in keep], [_plain(y[i]) for i in keep]


def _strata(labels: list, folds: int) -> list:
    """Stratification keys: classes too small to spread over the folds share one key."""
    counts = Counter(labels)
    keys = [label if counts[label] >= folds else "__rare__" for label in labels]
    if 0 < keys.count("__rare__") < folds:
        common = counts.most_common(1)[0][0]
        keys = [common if k == "__rare__" else k for k in keys]
    return [str(k) for k in keys]


def cross_validate(X, y, params: Mapping[str, Any], *, cv: int = 3, random_state: int = 0) -> dict[str, Any]:
    """Stratified k-fold macro-F1, accuracy and top-3 accuracy of one TriageClassifier configuration."""
    X, y = _labelled(X, y)
    y_arr = np.array(y, dtype=object)
    splitter = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    f1s, accs, top3s, seconds = [], [], [], 0.0
    for train, test in splitter.split(np.zeros(len(y)), _strata(y, cv)):
        # Thresholds are not needed to rank pipelines: skip their inner folds to save time.
        model = TriageClassifier(**{**params, "threshold_cv": None, "random_state": random_state})
        start = time.perf_counter()
        model.fit([X[i] for i in train], y_arr[train].tolist())
        seconds += time.perf_counter() - start
        proba = model.predict_proba([X[i] for i in test])
        predicted = model.classes_[proba.argmax(axis=1)].tolist()
        truth = y_arr[test].tolist()
        f1s.append(float(f1_score(truth, predicted, average="macro", zero_division=0)))
        accs.append(float(accuracy_score(truth, predicted)))
        top3 = model.classes_[np.argsort(-proba, axis=1)[:, :3]]
        top3s.append(float((top3 == y_arr[test][:, None]).any(axis=1).mean()))
    return {
        "params": dict(params),
        "macro_f1_mean": float(np.mean(f1s)),
        "macro_f1_std": float(np.std(f1s)),
        "macro_f1_folds": f1s,
        "accuracy_mean": float(np.mean(accs)),
        "top3_accuracy_mean": float(np.mean(top3s)),
        "fit_seconds_per_fold": seconds / cv,
    }


def compare_pipelines(
    X,
    y,
    *,
    candidates: Mapping[str, Mapping[str, Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    cv: int = 3,
    random_state: int = 0,
    tolerance: float = 0.005,
    known_scores: Mapping[str, dict[str, Any]] | None = None,
    metric: str = "macro_f1",
) -> dict[str, Any]:
    """Cross-validate each candidate (reusing `known_scores` by name) and record scores, choice and reason."""
    candidates = dict(candidates or DEFAULT_CANDIDATES)
    if not candidates:
        raise ValueError("candidates is empty")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, got {metric!r}")
    key, label = f"{metric}_mean", METRICS[metric]
    base = dict(base_params or {})
    known = dict(known_scores or {})
    scores = {
        name: known[name]
        if name in known
        else cross_validate(X, y, {**base, **params}, cv=cv, random_state=random_state)
        for name, params in candidates.items()
    }
    best = max(scores, key=lambda n: scores[n][key])
    best_score = scores[best][key]
    chosen = next(n for n in scores if scores[n][key] >= best_score - tolerance)
    ranking = sorted(scores, key=lambda n: -scores[n][key])
    spread = {n: f"±{scores[n]['macro_f1_std']:.4f}" if metric == "macro_f1" else "" for n in ranking}
    summary = ", ".join(f"{n} {scores[n][key]:.4f}{spread[n]}" for n in ranking)
    if chosen == best:
        runner_up = next((n for n in ranking if n != best), None)
        margin = f" (+{best_score - scores[runner_up][key]:.4f} over {runner_up})" if runner_up else ""
        reason = f"{best} has the best mean {cv}-fold CV {label}{margin}; scores: {summary}"
    else:
        reason = (
            f"{chosen} is within {tolerance} {label} of the best ({best}) and is listed before it as the "
            f"cheaper pipeline; scores: {summary}"
        )
    _, labels = _labelled(X, y)
    return {
        "metric": metric,
        "cv_folds": cv,
        "random_state": random_state,
        "n_samples": len(labels),
        "tolerance": tolerance,
        "base_params": base,
        "candidates": scores,
        "selected": chosen,
        "selected_params": {**base, **candidates[chosen]},
        "reason": reason,
    }


def select_model(
    X,
    y,
    *,
    candidates: Mapping[str, Mapping[str, Any]] | None = None,
    base_params: Mapping[str, Any] | None = None,
    cv: int = 3,
    random_state: int = 0,
    tolerance: float = 0.005,
    sample_ids: Sequence | None = None,
    sample_texts: Sequence[str] | None = None,
    metric: str = "macro_f1",
) -> tuple[TriageClassifier, dict[str, Any]]:
    """Choose the best pipeline by CV, refit it on all of X (with thresholds) and return (model, record)."""
    record = compare_pipelines(
        X,
        y,
        candidates=candidates,
        base_params=base_params,
        cv=cv,
        random_state=random_state,
        tolerance=tolerance,
        metric=metric,
    )
    model = TriageClassifier(**{**record["selected_params"], "random_state": random_state})
    model.fit(X, y, sample_ids=sample_ids, sample_texts=sample_texts)
    return model, record
