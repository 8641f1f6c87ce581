"""The scope gate of the intent detector: is a message something a service desk handles at all?

A logistic regression on the detector's text features separates in-scope examples (every
intent's examples: the shipped seed, the store's tickets, confirmed chat messages) from out-of-scope text
(CLINC150's out-of-scope queries and hand-written ones); both sides weigh the same, and so does every intent
within the in-scope side (`balanced_weights`). Its two thresholds come from out-of-fold scores of
the in-scope examples, i.e. from real traffic as soon as the store has tickets:

- below `refuse_` (the `refuse_quantile` of in-scope scores, 1% by default) the message is refused;
- between `refuse_` and `ask_` (the `ask_quantile`, 5%) the chat asks whether it is a problem to help with.

Folds group identical texts, and each fold fits its own vocabulary, so a held-out example is scored like a
message never seen: words missing from the training texts count for nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from itsm_ai.chat.features import TextFeatures


def balanced_weights(labels: np.ndarray, in_scope: np.ndarray, power: float = 0.5) -> np.ndarray:
    """Sample weights giving in scope and out of scope half the weight each; within the in-scope half an
    intent's share grows as its example count to the `power` (0: all intents alike, 1: by count), so
    thousands of tickets do not drown the few ways to ask for a status or a person."""
    weights = np.zeros(len(labels))
    weights[~in_scope] = 0.5 / max(int((~in_scope).sum()), 1)
    intents, counts = np.unique(labels[in_scope], return_counts=True)
    totals = counts.astype(float) ** power
    share = dict(zip(intents, 0.5 * totals / totals.sum() / counts, strict=True))
    weights[in_scope] = [share[v] for v in labels[in_scope]]
    return weights * len(labels)


def fit_gate(
    features: TextFeatures,
    texts: list[str],
    labels: np.ndarray,
    in_scope: np.ndarray,
    *,
    C: float,
    power: float,
    random_state,
):
    """A logistic regression on already fitted features: positive = in scope."""
    model = LogisticRegression(C=C, max_iter=2000, random_state=random_state)
    weights = balanced_weights(labels, in_scope, power)
    return model.fit(features.transform(texts), in_scope.astype(int), sample_weight=weights)


def out_of_fold_scores(
    texts: list[str],
    labels: np.ndarray,
    in_scope: np.ndarray,
    *,
    feature_params: dict[str, Any],
    C: float,
    power: float,
    cv: int,
    random_state,
) -> np.ndarray:
    """Gate scores of every example from a model that never saw it (nor an identical text)."""
    groups = np.array([" ".join(t.lower().split()) for t in texts], dtype=object)
    n_splits = int(min(cv, np.bincount(in_scope.astype(int)).min()))
    if n_splits < 2:
        raise ValueError("y: need at least two out-of-scope and two in-scope examples to set the thresholds")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    scores = np.zeros(len(texts))
    for train, val in folds.split(texts, in_scope.astype(int), groups):
        train_texts = [texts[i] for i in train]
        features = TextFeatures(feature_params).fit(train_texts)
        gate = fit_gate(
            features, train_texts, labels[train], in_scope[train], C=C, power=power, random_state=random_state
        )
        scores[val] = gate.decision_function(features.transform([texts[i] for i in val]))
    return scores


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The value below which a share `q` of the total weight lies."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    return float(values[order][min(int(np.searchsorted(cumulative, q)), len(values) - 1)])


def thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    in_scope: np.ndarray,
    *,
    refuse_quantile: float,
    ask_quantile: float,
    power: float = 0.5,
) -> tuple[float, float, dict[str, Any]]:
    """The refuse and ask thresholds from out-of-fold scores, and what they do to those examples.

    The quantiles are weighted like the gate's training (`balanced_weights`): the thousands of tickets in a
    store must not set a threshold that turns away the few ways people ask for a status or a person."""
    weights = balanced_weights(labels, in_scope, power)[in_scope]
    inside, outside = scores[in_scope], scores[~in_scope]
    refuse = weighted_quantile(inside, weights, refuse_quantile) if refuse_quantile > 0 else inside.min() - 1
    ask = max(refuse, weighted_quantile(inside, weights, ask_quantile))
    per_intent = {
        str(intent): float(np.mean(inside[labels[in_scope] == intent] < refuse))
        for intent in np.unique(labels[in_scope])
    }
    report = {
        "n_in_scope": int(len(inside)),
        "n_out_of_scope": int(len(outside)),
        "in_scope_refused": float(np.mean(inside < refuse)),
        "in_scope_asked": float(np.mean((inside >= refuse) & (inside < ask))),
        "out_of_scope_refused": float(np.mean(outside < refuse)),
        "out_of_scope_asked": float(np.mean((outside >= refuse) & (outside < ask))),
        "refused_by_intent": per_intent,
    }
    return float(refuse), float(ask), report
