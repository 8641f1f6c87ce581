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
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from itsm_ai.chat.features import TextFeatures


def _half(labels: np.ndarray, power: float) -> np.ndarray:
    """Weights summing to 0.5 over `labels`, a label's share growing as its count to the `power`."""
    if len(labels) == 0:
        return np.zeros(0)
    values, counts = np.unique(labels, return_counts=True)
    totals = counts.astype(float) ** power
    share = dict(zip(values, 0.5 * totals / totals.sum() / counts, strict=True))
    return np.array([share[v] for v in labels])


def balanced_weights(
    labels: np.ndarray, in_scope: np.ndarray, power: float = 0.5, oos_power: float = 1.0
) -> np.ndarray:
    """Sample weights giving in scope and out of scope half the weight each; within the in-scope half an
    intent's share grows as its example count to the `power` (0: all intents alike, 1: by count), so
    thousands of tickets do not drown the few ways to ask for a status or a person. Within the out-of-scope
    half each out-of-scope label (a source: "oos", "oos:clinc_domains") likewise grows as its count to the
    `oos_power` (1: every example alike)."""
    weights = np.zeros(len(labels))
    weights[~in_scope] = _half(labels[~in_scope], oos_power)
    weights[in_scope] = _half(labels[in_scope], power)
    return weights * len(labels)


FEW_QUERIES = 8


def _keys(texts: list[str]) -> np.ndarray:
    return np.array([" ".join(t.lower().split()) for t in texts], dtype=object)


def nearest_similarity(
    query: np.ndarray | sp.csr_matrix,
    reference: np.ndarray | sp.csr_matrix,
    *,
    query_keys: np.ndarray | None = None,
    reference_keys: np.ndarray | None = None,
    block: int = 1024,
) -> np.ndarray:
    """Each query row's cosine similarity to its nearest reference row (rows are unit length); with keys, a
    reference row with the query's own text is skipped (a training example is not its own neighbour)."""
    out = np.zeros(query.shape[0])
    if reference.shape[0] == 0:
        return out
    for start in range(0, query.shape[0], block):
        part = query[start : start + block]
        if sp.issparse(part):
            sims = (part @ reference.T).toarray()
        elif part.shape[0] <= FEW_QUERIES:
            # A chat turn: einsum's own loop, as waking BLAS threads for one small product costs ~15 ms on a
            # busy machine (0.2 ms this way for 1,500 examples).
            sims = np.vstack([np.einsum("ij,j->i", reference, row) for row in part]).astype(np.float64)
        else:
            sims = np.asarray(part @ reference.T, dtype=np.float64)
        if query_keys is not None and reference_keys is not None:
            sims[query_keys[start : start + block, None] == reference_keys[None, :]] = -1.0
        out[start : start + block] = np.clip(sims.max(axis=1), 0.0, 1.0)
    return out


class ScopeGate:
    """In scope or not: a logistic regression on the detector's features and, when `knn_weight` > 0, two
    more inputs: the similarity to the nearest in-scope and to the nearest out-of-scope training example
    (MiniLM vectors when the features have them, else the TF-IDF rows). A training example's own text is not
    its neighbour, so the model learns the inputs as a new message shows them."""

    def __init__(
        self, *, C: float, power: float, oos_power: float = 1.0, knn_weight: float = 0.0, random_state
    ):
        self.C = C
        self.power = power
        self.oos_power = oos_power
        self.knn_weight = knn_weight
        self.random_state = random_state

    @staticmethod
    def _reference(features: TextFeatures, texts: list[str]) -> np.ndarray | sp.csr_matrix:
        emb = features.embeddings(texts)
        if emb is not None:
            return emb.astype(np.float32)
        return features.lexical(texts)

    def _inputs(self, X: sp.csr_matrix, ref, keys: np.ndarray | None) -> sp.csr_matrix:
        if self.knn_weight <= 0:
            return X
        near = [
            nearest_similarity(ref, side, query_keys=keys, reference_keys=side_keys)
            for side, side_keys in ((self.ref_in_, self.keys_in_), (self.ref_out_, self.keys_out_))
        ]
        extra = sp.csr_matrix(np.column_stack(near) * self.knn_weight)
        return sp.hstack([X, extra], format="csr")

    def fit(
        self, features: TextFeatures, texts: list[str], labels: np.ndarray, in_scope: np.ndarray
    ) -> ScopeGate:
        """Fit on already fitted features: positive = in scope."""
        X = features.transform(texts)
        keys = None
        if self.knn_weight > 0:
            ref = self._reference(features, texts)
            keys = _keys(texts)
            self.ref_in_, self.ref_out_ = ref[in_scope], ref[~in_scope]
            self.keys_in_, self.keys_out_ = keys[in_scope], keys[~in_scope]
            X = self._inputs(X, ref, keys)
        self.model_ = LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)
        weights = balanced_weights(labels, in_scope, self.power, self.oos_power)
        self.model_.fit(X, in_scope.astype(int), sample_weight=weights)
        return self

    def decision_function(
        self, features: TextFeatures, texts: list[str], X: sp.csr_matrix | None = None
    ) -> np.ndarray:
        """In-scope scores of messages (`X`: their features when already computed)."""
        X = features.transform(texts) if X is None else X
        if self.knn_weight > 0:
            X = self._inputs(X, self._reference(features, texts), None)
        return self.model_.decision_function(X)


def fit_gate(
    features: TextFeatures,
    texts: list[str],
    labels: np.ndarray,
    in_scope: np.ndarray,
    *,
    C: float,
    power: float,
    oos_power: float = 1.0,
    knn_weight: float = 0.0,
    random_state,
) -> ScopeGate:
    """The scope gate fitted on already fitted features."""
    gate = ScopeGate(C=C, power=power, oos_power=oos_power, knn_weight=knn_weight, random_state=random_state)
    return gate.fit(features, texts, labels, in_scope)


def out_of_fold_scores(
    texts: list[str],
    labels: np.ndarray,
    in_scope: np.ndarray,
    *,
    feature_params: dict[str, Any],
    C: float,
    power: float,
    oos_power: float = 1.0,
    knn_weight: float = 0.0,
    cv: int,
    random_state,
) -> np.ndarray:
    """Gate scores of every example from a model that never saw it (nor an identical text)."""
    groups = _keys(texts)
    n_splits = int(min(cv, np.bincount(in_scope.astype(int)).min()))
    if n_splits < 2:
        raise ValueError("y: need at least two out-of-scope and two in-scope examples to set the thresholds")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    scores = np.zeros(len(texts))
    for train, val in folds.split(texts, in_scope.astype(int), groups):
        train_texts = [texts[i] for i in train]
        features = TextFeatures(feature_params).fit(train_texts)
        gate = fit_gate(
            features,
            train_texts,
            labels[train],
            in_scope[train],
            C=C,
            power=power,
            oos_power=oos_power,
            knn_weight=knn_weight,
            random_state=random_state,
        )
        scores[val] = gate.decision_function(features, [texts[i] for i in val])
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
