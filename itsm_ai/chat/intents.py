"""`IntentDetector`: which intent a chat message expresses, with calibrated confidence, a clarifying
question when the top two intents are close, and out-of-scope handling that refuses only what is clearly not
for a service desk.

How `fit` works (one scikit-learn estimator, no database, no web framework):

1. Examples labelled `oos_label` (or `oos_label:<source>`) are not a class: they only teach what is out of
   scope. Every other label is an intent (`classes_`); the detector never answers anything else.
2. Features (`features.TextFeatures`): TF-IDF word 1-2-grams and character 2-5-grams, optionally joined with
   MiniLM sentence embeddings (`embeddings=True`). Intent classifier: a linear SVM whose margins become
   probabilities by a softmax with a temperature fitted (negative log-likelihood) on a validation split
   (stratified, `validation_fraction`), so `confidence` is calibrated.
3. Out of scope, `abstain="gate"` (default): a logistic regression on the same features separates every
   in-scope example from the out-of-scope ones (`scope`). Thresholds come from out-of-fold scores of the
   in-scope examples: below the `refuse_quantile` the message is refused, below the `ask_quantile` the chat
   asks whether it is a problem to help with (`DecisionKind.unsure`). Trained on the store's tickets, the
   thresholds are calibrated on real traffic.
   `abstain="similarity"` is the earlier rule, kept as the benchmarks' baseline: score = (1 - w) * max
   probability + w * cosine similarity to the nearest example, refused below the score that keeps
   `in_scope_recall` of the validation in-scope examples.
4. A refused or doubtful message in a language outside `languages` goes to `language_fallback` (the problem
   flow) instead: the models cannot read it, so they must not turn it away.

The final model is refitted on all examples with the chosen temperature and thresholds; test data is never
looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from itsm_ai.chat import scope
from itsm_ai.chat.features import TextFeatures
from itsm_ai.chat.language import uncovered_language

WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURE_GRID = tuple(np.logspace(-2.5, 1.0, 71))
DEFAULT_WEIGHT = 0.5
ABSTAIN_RULES = ("gate", "similarity")


class DecisionKind:
    """What the detector concluded about one message."""

    intent = "intent"
    clarify = "clarify"
    unsure = "unsure"  # maybe not for the service desk: ask before refusing
    out_of_scope = "out_of_scope"


@dataclass(frozen=True)
class IntentDecision:
    """The detector's answer for one message: an intent, a question, or out of scope."""

    kind: str
    intent: str | None
    confidence: float
    score: float
    choices: list[tuple[str, float]] = field(default_factory=list)
    language: str | None = None  # set when the message went to the fallback intent for its language

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "kind": self.kind,
            "intent": self.intent,
            "confidence": self.confidence,
            "score": self.score,
            "choices": [{"intent": c, "confidence": p} for c, p in self.choices],
            "language": self.language,
        }


# ------------------------------------------------------------------------------------------------ helpers


def _check_texts(X: Any, name: str = "X") -> list[str]:
    if isinstance(X, str):
        raise ValueError(f"{name}: expected a list of texts, got one string")
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{name}[{i}]: expected a text, got {type(t).__name__}")
    return texts


def _softmax(margins: np.ndarray, temperature: float) -> np.ndarray:
    z = margins / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_temperature(margins: np.ndarray, y_idx: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of the true classes."""
    best, best_nll = 1.0, np.inf
    rows = np.arange(len(y_idx))
    for t in TEMPERATURE_GRID:
        p = _softmax(margins, float(t))[rows, y_idx]
        nll = -np.mean(np.log(np.clip(p, 1e-12, None)))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def _split(y: np.ndarray, fraction: float, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices; classes with fewer than 3 examples stay whole in train."""
    train, val = [], []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        n_val = 0
        if fraction > 0 and len(idx) >= 3:
            n_val = min(max(int(round(fraction * len(idx))), 1), len(idx) - 2)
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.array(train, dtype=int)), np.sort(np.array(val, dtype=int))


class _Core:
    """Features + linear SVM (+ the examples' vectors for the similarity rule), fitted on one set."""

    def __init__(self, params: dict[str, Any], classes: np.ndarray, *, keep_reference: bool):
        self.p = params
        self.classes = classes
        self.keep_reference = keep_reference

    def fit(self, texts: list[str], y_idx: np.ndarray, vocabulary: list[str] | None = None) -> _Core:
        if len(np.unique(y_idx)) < 2:
            raise ValueError("y: need examples of at least two intents")
        self.features = TextFeatures(self.p).fit(vocabulary if vocabulary is not None else texts)
        lexical = self.features.lexical(texts)
        emb = self.features.embeddings(texts)
        self.svm = LinearSVC(C=self.p["C"], class_weight="balanced", random_state=self.p["random_state"])
        self.svm.fit(self.features.join(lexical, emb), y_idx)
        self.fitted_classes = self.svm.classes_
        self.reference = (emb if emb is not None else lexical) if self.keep_reference else None
        return self

    def margins(self, X: sp.csr_matrix) -> np.ndarray:
        """Per-class SVM margins, one column per class of the detector."""
        decision = self.svm.decision_function(X)
        if decision.ndim == 1:  # two classes: sklearn returns one column
            decision = np.column_stack([-decision, decision])
        margins = np.full((X.shape[0], len(self.classes)), -10.0, dtype=np.float64)
        margins[:, self.fitted_classes] = decision
        return margins

    def margins_and_similarity(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-class SVM margins and max cosine similarity to a training example (the similarity rule)."""
        lexical = self.features.lexical(texts)
        emb = self.features.embeddings(texts)
        margins = self.margins(self.features.join(lexical, emb))
        return margins, scope.nearest_similarity(emb if emb is not None else lexical, self.reference)


class IntentDetector(ClassifierMixin, BaseEstimator):
    """Intent classifier with calibrated confidence, a scope gate, clarifying choices and a language rule."""

    def __init__(
        self,
        *,
        C: float = 0.5,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        max_word_features: int | None = 50_000,
        max_char_features: int | None = 150_000,
        embeddings: bool = False,
        embedding_weight: float = 1.0,
        abstain: str = "gate",
        gate_C: float = 4.0,
        intent_weight_power: float = 0.5,
        oos_weight_power: float = 1.0,
        knn_weight: float = 0.0,
        refuse_quantile: float = 0.01,
        ask_quantile: float = 0.05,
        cv: int = 5,
        similarity_weight: float | None = None,
        in_scope_recall: float = 0.95,
        threshold: float | None = None,
        margin: float = 0.15,
        max_choices: int = 3,
        oos_label: str = "oos",
        languages: tuple[str, ...] | None = ("en", "de"),
        language_fallback: str | None = None,
        validation_fraction: float = 0.2,
        random_state: int | None = 0,
    ):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.embeddings = embeddings
        self.embedding_weight = embedding_weight
        self.abstain = abstain
        self.gate_C = gate_C
        self.intent_weight_power = intent_weight_power
        self.oos_weight_power = oos_weight_power
        self.knn_weight = knn_weight
        self.refuse_quantile = refuse_quantile
        self.ask_quantile = ask_quantile
        self.cv = cv
        self.similarity_weight = similarity_weight
        self.in_scope_recall = in_scope_recall
        self.threshold = threshold
        self.margin = margin
        self.max_choices = max_choices
        self.oos_label = oos_label
        self.languages = languages
        self.language_fallback = language_fallback
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    # -------------------------------------------------------------------------------------------- fitting

    def _validate_params(self) -> None:
        if self.C <= 0:
            raise ValueError("C: must be positive")
        if self.gate_C <= 0:
            raise ValueError("gate_C: must be positive")
        if not 0 <= self.intent_weight_power <= 1:
            raise ValueError("intent_weight_power: must be in [0, 1]")
        if not 0 <= self.oos_weight_power <= 1:
            raise ValueError("oos_weight_power: must be in [0, 1]")
        if self.knn_weight < 0:
            raise ValueError("knn_weight: must be >= 0")
        if self.abstain not in ABSTAIN_RULES:
            raise ValueError(f"abstain: must be one of {', '.join(ABSTAIN_RULES)}")
        if not 0 <= self.refuse_quantile < 1:
            raise ValueError("refuse_quantile: must be in [0, 1)")
        if not self.refuse_quantile <= self.ask_quantile < 1:
            raise ValueError("ask_quantile: must be in [refuse_quantile, 1)")
        if self.cv < 2:
            raise ValueError("cv: must be >= 2")
        if not 0 < self.in_scope_recall <= 1:
            raise ValueError("in_scope_recall: must be in (0, 1]")
        if self.margin < 0:
            raise ValueError("margin: must be >= 0")
        if self.max_choices < 2:
            raise ValueError("max_choices: must be >= 2")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError("validation_fraction: must be in [0, 1)")
        if self.similarity_weight is not None and not 0 <= self.similarity_weight <= 1:
            raise ValueError("similarity_weight: must be in [0, 1]")

    def _feature_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": self.char_ngrams,
            "max_word_features": self.max_word_features,
            "max_char_features": self.max_char_features,
            "embeddings": self.embeddings,
            "embedding_weight": self.embedding_weight,
            "random_state": self.random_state,
        }

    def fit(self, X: Sequence[str], y: Sequence[str]) -> IntentDetector:
        """Learn intents from example messages; examples labelled `oos_label` teach what is out of scope."""
        self._validate_params()
        texts = _check_texts(X)
        labels = np.array([str(v) for v in y], dtype=object)
        if len(labels) != len(texts):
            raise ValueError(f"y: {len(labels)} labels for {len(texts)} texts")
        in_scope = ~self._out_of_scope_mask(labels)
        if len(np.unique(labels[in_scope])) < 2:
            raise ValueError("y: need examples of at least two intents")
        if self.language_fallback is not None and self.language_fallback not in set(labels[in_scope]):
            raise ValueError(f"language_fallback: {self.language_fallback!r} is not one of the intents")
        if self.abstain == "gate" and int((~in_scope).sum()) < 2:
            raise ValueError(f"y: the scope gate needs at least two {self.oos_label!r} examples")
        rng = check_random_state(self.random_state)
        ins_texts = [t for t, keep in zip(texts, in_scope, strict=True) if keep]
        oos_texts = [t for t, keep in zip(texts, in_scope, strict=True) if not keep]
        self.classes_ = np.array(sorted(set(labels[in_scope])), dtype=object)
        index = {c: i for i, c in enumerate(self.classes_)}
        y_idx = np.array([index[v] for v in labels[in_scope]])
        gate = self.abstain == "gate"
        params = self._feature_params()

        train, val = _split(y_idx, self.validation_fraction, rng)
        self.temperature_ = 0.1
        self.validation_ = {"n_in_scope": int(len(val)), "n_out_of_scope": len(oos_texts)}
        self.similarity_weight_ = None
        if not gate:
            given = self.similarity_weight
            self.similarity_weight_ = DEFAULT_WEIGHT if given is None else float(given)
        refuse = ask = 0.0
        probs = correct = None
        if len(val) > 0:
            train_texts = [ins_texts[i] for i in train]
            core = _Core(params, self.classes_, keep_reference=not gate).fit(
                train_texts, y_idx[train], vocabulary=train_texts + oos_texts if gate else None
            )
            val_texts = [ins_texts[i] for i in val]
            margins, sims = (
                (core.margins(core.features.transform(val_texts)), None)
                if gate
                else core.margins_and_similarity(val_texts)
            )
            self.temperature_ = _fit_temperature(margins, y_idx[val])
            probs = _softmax(margins, self.temperature_)
            correct = probs.argmax(axis=1) == y_idx[val]
            self.validation_.update(
                {"classifier_accuracy": float(np.mean(correct)), "temperature": self.temperature_}
            )
            if not gate:
                refuse = self._fit_similarity_rule(core, probs, sims, correct, oos_texts)
                ask = refuse
        if gate:
            refuse, ask = self._fit_gate_thresholds(texts, labels, in_scope)
        if self.threshold is not None:
            refuse = float(self.threshold)
        ask = max(ask, refuse) if gate else refuse
        self.threshold_, self.ask_threshold_ = float(refuse), float(ask)
        self.core_ = _Core(params, self.classes_, keep_reference=not gate).fit(
            ins_texts, y_idx, vocabulary=texts if gate else None
        )
        self.gate_ = None
        if gate:
            self.gate_ = scope.fit_gate(
                self.core_.features,
                texts,
                labels,
                in_scope,
                C=self.gate_C,
                power=self.intent_weight_power,
                oos_power=self.oos_weight_power,
                knn_weight=self.knn_weight,
                random_state=self.random_state,
            )
        self.n_examples_ = len(ins_texts)
        self.n_out_of_scope_ = len(oos_texts)
        return self

    def _out_of_scope_mask(self, labels: np.ndarray) -> np.ndarray:
        """Out-of-scope examples: labelled `oos_label`, or `oos_label:<source>` (weighed per source)."""
        prefix = f"{self.oos_label}:"
        return np.array([v == self.oos_label or v.startswith(prefix) for v in labels], dtype=bool)

    def _fit_similarity_rule(self, core, probs, sims, correct, oos_texts) -> float:
        """The earlier rule: weight and threshold of max probability mixed with nearest-example similarity."""
        weight = DEFAULT_WEIGHT if self.similarity_weight is None else float(self.similarity_weight)
        if oos_texts:
            o_margins, o_sims = core.margins_and_similarity(oos_texts)
            o_conf = _softmax(o_margins, self.temperature_).max(axis=1)
        grid = WEIGHT_GRID if self.similarity_weight is None else (weight,)
        best = None
        for w in grid:
            scores = (1 - w) * probs.max(axis=1) + w * sims
            t = float(np.quantile(scores, 1 - self.in_scope_recall)) if self.in_scope_recall < 1 else -1.0
            oos_recall = float(np.mean((1 - w) * o_conf + w * o_sims < t)) if oos_texts else None
            accuracy = float(np.mean(correct & (scores >= t)))
            key = (oos_recall if oos_recall is not None else -abs(w - DEFAULT_WEIGHT), accuracy)
            if best is None or key > best[0]:
                best = (key, w, t, oos_recall, accuracy)
        _, weight, threshold, oos_recall, accuracy = best
        self.similarity_weight_ = weight
        self.validation_.update({"in_scope_accuracy": accuracy, "out_of_scope_recall": oos_recall})
        return threshold

    def _fit_gate_thresholds(
        self, texts: list[str], labels: np.ndarray, in_scope: np.ndarray
    ) -> tuple[float, float]:
        """Refuse and ask thresholds from out-of-fold gate scores; a balanced Platt map for probabilities."""
        oof = scope.out_of_fold_scores(
            texts,
            labels,
            in_scope,
            feature_params=self._feature_params(),
            C=self.gate_C,
            power=self.intent_weight_power,
            oos_power=self.oos_weight_power,
            knn_weight=self.knn_weight,
            cv=self.cv,
            random_state=self.random_state,
        )
        refuse, ask, report = scope.thresholds(
            oof,
            labels,
            in_scope,
            refuse_quantile=self.refuse_quantile,
            ask_quantile=self.ask_quantile,
            power=self.intent_weight_power,
        )
        platt = LogisticRegression(class_weight="balanced").fit(oof.reshape(-1, 1), in_scope.astype(int))
        self.scope_calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.validation_["scope"] = report
        return refuse, ask

    # ----------------------------------------------------------------------------------------- predicting

    def _scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "core_")
        if not texts:
            return np.zeros((0, len(self.classes_))), np.zeros(0)
        if self.gate_ is None:
            margins, sims = self.core_.margins_and_similarity(texts)
            probs = _softmax(margins, self.temperature_)
            w = self.similarity_weight_
            return probs, (1 - w) * probs.max(axis=1) + w * sims
        features = self.core_.features.transform(texts)
        probs = _softmax(self.core_.margins(features), self.temperature_)
        if isinstance(self.gate_, scope.ScopeGate):
            return probs, self.gate_.decision_function(self.core_.features, texts, features)
        return probs, self.gate_.decision_function(features)  # a plain logistic regression, saved earlier

    def in_scope_probability(self, scores: np.ndarray) -> np.ndarray:
        """Class-balanced probability that messages with these gate scores are in scope."""
        check_is_fitted(self, "core_")
        if self.gate_ is None:
            return np.clip(scores, 0.0, 1.0)
        a, b = self.scope_calibration_
        return 1.0 / (1.0 + np.exp(-(a * scores + b)))

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each intent in `classes_` (rows sum to 1; out of scope not included)."""
        return self._scores(_check_texts(X))[0]

    def score_samples(self, X: Sequence[str]) -> np.ndarray:
        """In-scope score of each message; below `threshold_` the detector refuses it."""
        return self._scores(_check_texts(X))[1]

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The intent per message (the top one, also when the detector would ask), or `oos_label` when it
        refuses."""
        decisions = self.decide(X)
        return np.array(
            [self.oos_label if d.kind == DecisionKind.out_of_scope else d.intent for d in decisions],
            dtype=object,
        )

    def decide(self, X: Sequence[str]) -> list[IntentDecision]:
        """Per message: an intent, a clarifying question between close intents, a question whether it is
        for the service desk at all, or out of scope."""
        texts = _check_texts(X)
        probs, scores = self._scores(texts)
        in_scope_p = self.in_scope_probability(scores)
        out = []
        for text, row, score, p_in in zip(texts, probs, scores, in_scope_p, strict=True):
            order = np.argsort(-row)
            ranked = [(str(self.classes_[i]), float(row[i])) for i in order[: self.max_choices]]
            top, conf = ranked[0]
            if score < self.ask_threshold_:
                kind = DecisionKind.out_of_scope if score < self.threshold_ else DecisionKind.unsure
                language = self._uncovered_language(text)
                if language is not None:
                    fallback = self.language_fallback
                    p_fallback = float(row[list(self.classes_).index(fallback)])
                    decision = IntentDecision(
                        DecisionKind.intent, fallback, p_fallback, float(score), ranked, language
                    )
                    out.append(decision)
                elif kind == DecisionKind.out_of_scope:
                    confidence = 1.0 - float(p_in) if self.gate_ is not None else conf
                    out.append(IntentDecision(kind, None, confidence, float(score), ranked))
                else:
                    out.append(IntentDecision(kind, top, float(p_in), float(score), ranked))
                continue
            close = [(c, p) for c, p in ranked if conf - p <= self.margin]
            if len(close) >= 2:
                out.append(IntentDecision(DecisionKind.clarify, top, conf, float(score), close))
            else:
                out.append(IntentDecision(DecisionKind.intent, top, conf, float(score), ranked))
        return out

    def _uncovered_language(self, text: str) -> str | None:
        if self.language_fallback is None or not self.languages:
            return None
        return uncovered_language(text, self.languages)
