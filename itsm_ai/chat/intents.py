"""`IntentDetector`: which intent a chat message expresses, with calibrated confidence, out-of-scope
abstention and a clarifying question when the top two intents are close.

How `fit` works (one scikit-learn estimator, no database, no web framework):

1. Examples labelled `oos_label` are not a class: they are only used to choose how the out-of-scope score
   mixes its two signals. Every other label is an intent (`classes_`); the detector never answers anything
   else.
2. Features: TF-IDF word 1-2-grams and character 2-5-grams (within word boundaries), L2-normalised, optionally
   followed by MiniLM sentence embeddings (`embeddings=True`, `itsm_ai.embeddings`, imported lazily).
   Classifier: a linear SVM; its margins become probabilities by a softmax whose temperature is fitted
   (negative log-likelihood) on a validation split, so `confidence` is calibrated.
3. Out-of-scope score = (1 - w) * max calibrated probability + w * cosine similarity to the nearest training
   example (in embedding space when embeddings are on, else TF-IDF space). A message unlike every example
   scores low even when the classifier happens to be sure, which is where plain confidence thresholds fail.
4. The validation split is carved from the training examples (stratified, `validation_fraction`). The
   threshold keeps `in_scope_recall` of the validation in-scope messages; the weight w (unless given) is the
   grid value that rejects the most validation out-of-scope examples at that threshold. The final model is
   refitted on all examples with the chosen temperature, weight and threshold. Test data is never looked at.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

WEIGHT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURE_GRID = tuple(np.logspace(-2.5, 1.0, 71))
DEFAULT_WEIGHT = 0.5


class DecisionKind:
    """What the detector concluded about one message."""

    intent = "intent"
    clarify = "clarify"
    out_of_scope = "out_of_scope"


@dataclass(frozen=True)
class IntentDecision:
    """The detector's answer for one message: an intent, a question between choices, or out of scope."""

    kind: str
    intent: str | None
    confidence: float
    score: float
    choices: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "kind": self.kind,
            "intent": self.intent,
            "confidence": self.confidence,
            "score": self.score,
            "choices": [{"intent": c, "confidence": p} for c, p in self.choices],
        }


# ------------------------------------------------------------------------------------------- embeddings

_cache_lock = threading.Lock()
_embedding_cache: dict[str, np.ndarray] = {}
EMBEDDING_CACHE_LIMIT = 30_000  # ~46 MB of 384-d float32 vectors at most


def prime_embeddings(texts: Sequence[str], vectors: np.ndarray) -> None:
    """Remember precomputed embeddings (benchmarks load them from disk instead of re-encoding)."""
    with _cache_lock:
        for text, vec in zip(texts, vectors, strict=True):
            if len(_embedding_cache) >= EMBEDDING_CACHE_LIMIT:
                break
            _embedding_cache[text] = np.asarray(vec, dtype=np.float32)


def clear_embedding_cache() -> None:
    """Forget cached embeddings."""
    with _cache_lock:
        _embedding_cache.clear()


def cached_embedding(text: str) -> np.ndarray | None:
    """The MiniLM vector of a text embedded before (so a retrieval query can reuse it), or None."""
    return _embedding_cache.get(text)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM vectors for texts, cached; the model is loaded on first use only."""
    missing = [t for t in dict.fromkeys(texts) if t not in _embedding_cache]
    if missing:
        from itsm_ai.embeddings import get_encoder

        vectors = get_encoder().encode(missing)
        with _cache_lock:
            if len(_embedding_cache) + len(missing) > EMBEDDING_CACHE_LIMIT:
                _embedding_cache.clear()
            for text, vec in zip(missing, vectors, strict=True):
                _embedding_cache[text] = vec
        lookup = dict(zip(missing, vectors, strict=True))
    else:
        lookup = {}
    rows = [lookup[t] if t in lookup else _embedding_cache[t] for t in texts]
    if not rows:
        from itsm_ai.embeddings import get_encoder

        return np.zeros((0, get_encoder().dimension), dtype=np.float32)
    return np.vstack(rows).astype(np.float32)


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
    """Features + linear SVM + nearest-example similarity, fitted on one set of examples."""

    def __init__(self, params: dict[str, Any], classes: np.ndarray):
        self.p = params
        self.classes = classes

    def fit(self, texts: list[str], y_idx: np.ndarray) -> _Core:
        p = self.p
        self.word = TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(p["word_ngrams"]),
            sublinear_tf=True,
            min_df=1,
            token_pattern=r"(?u)\b\w+\b",
            dtype=np.float32,
        )
        self.char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(p["char_ngrams"]),
            sublinear_tf=True,
            min_df=1,
            dtype=np.float32,
            max_features=p["max_char_features"],
        )
        lexical = self._lexical(texts, fit=True)
        emb = embed(texts) if p["embeddings"] else None
        features = self._join(lexical, emb)
        self.svm = LinearSVC(C=p["C"], class_weight="balanced", random_state=p["random_state"])
        if len(np.unique(y_idx)) < 2:
            raise ValueError("y: need examples of at least two intents")
        self.svm.fit(features, y_idx)
        self.fitted_classes = self.svm.classes_
        self.reference = emb if emb is not None else lexical
        return self

    def _lexical(self, texts: list[str], *, fit: bool = False):
        w = self.word.fit_transform(texts) if fit else self.word.transform(texts)
        c = self.char.fit_transform(texts) if fit else self.char.transform(texts)
        return normalize(sp.hstack([w, c], format="csr"))

    def _join(self, lexical, emb):
        if emb is None:
            return lexical
        weighted = sp.csr_matrix(emb * self.p["embedding_weight"])
        return sp.hstack([lexical, weighted], format="csr")

    def margins_and_similarity(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-class SVM margins (columns = all classes) and max cosine similarity to a training example."""
        lexical = self._lexical(texts)
        emb = embed(texts) if self.p["embeddings"] else None
        decision = self.svm.decision_function(self._join(lexical, emb))
        if decision.ndim == 1:  # two classes: sklearn returns one column
            decision = np.column_stack([-decision, decision])
        margins = np.full((len(texts), len(self.classes)), -10.0, dtype=np.float64)
        margins[:, self.fitted_classes] = decision
        query = emb if emb is not None else lexical
        sims = np.zeros(len(texts))
        for start in range(0, len(texts), 1024):
            block = query[start : start + 1024] @ self.reference.T
            block = block.toarray() if sp.issparse(block) else np.asarray(block)
            sims[start : start + 1024] = block.max(axis=1)
        return margins, sims


class IntentDetector(ClassifierMixin, BaseEstimator):
    """Intent classifier with calibrated confidence, out-of-scope abstention and clarifying choices."""

    def __init__(
        self,
        *,
        C: float = 0.5,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        max_char_features: int | None = 200_000,
        embeddings: bool = False,
        embedding_weight: float = 1.0,
        similarity_weight: float | None = None,
        in_scope_recall: float = 0.95,
        threshold: float | None = None,
        margin: float = 0.15,
        max_choices: int = 3,
        oos_label: str = "oos",
        validation_fraction: float = 0.2,
        random_state: int | None = 0,
    ):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_char_features = max_char_features
        self.embeddings = embeddings
        self.embedding_weight = embedding_weight
        self.similarity_weight = similarity_weight
        self.in_scope_recall = in_scope_recall
        self.threshold = threshold
        self.margin = margin
        self.max_choices = max_choices
        self.oos_label = oos_label
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    # -------------------------------------------------------------------------------------------- fitting

    def _validate_params(self) -> None:
        if self.C <= 0:
            raise ValueError("C: must be positive")
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

    def _core_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": self.char_ngrams,
            "max_char_features": self.max_char_features,
            "embeddings": self.embeddings,
            "embedding_weight": self.embedding_weight,
            "random_state": self.random_state,
        }

    def fit(self, X: Sequence[str], y: Sequence[str]) -> IntentDetector:
        """Learn intents from example messages; examples labelled `oos_label` only tune abstention."""
        self._validate_params()
        texts = _check_texts(X)
        labels = np.array([str(v) for v in y], dtype=object)
        if len(labels) != len(texts):
            raise ValueError(f"y: {len(labels)} labels for {len(texts)} texts")
        in_scope = labels != self.oos_label
        if len(np.unique(labels[in_scope])) < 2:
            raise ValueError("y: need examples of at least two intents")
        rng = check_random_state(self.random_state)
        ins_texts = [t for t, keep in zip(texts, in_scope, strict=True) if keep]
        oos_texts = [t for t, keep in zip(texts, in_scope, strict=True) if not keep]
        self.classes_ = np.array(sorted(set(labels[in_scope])), dtype=object)
        index = {c: i for i, c in enumerate(self.classes_)}
        y_idx = np.array([index[v] for v in labels[in_scope]])

        train, val = _split(y_idx, self.validation_fraction, rng)
        self.temperature_ = 0.1
        weight = DEFAULT_WEIGHT if self.similarity_weight is None else float(self.similarity_weight)
        threshold = 0.0
        self.validation_ = {"n_in_scope": int(len(val)), "n_out_of_scope": len(oos_texts)}
        if len(val) > 0:
            core = _Core(self._core_params(), self.classes_).fit([ins_texts[i] for i in train], y_idx[train])
            margins, sims = core.margins_and_similarity([ins_texts[i] for i in val])
            self.temperature_ = _fit_temperature(margins, y_idx[val])
            probs = _softmax(margins, self.temperature_)
            correct = probs.argmax(axis=1) == y_idx[val]
            if oos_texts:
                o_margins, o_sims = core.margins_and_similarity(oos_texts)
                o_conf = _softmax(o_margins, self.temperature_).max(axis=1)
            grid = WEIGHT_GRID if self.similarity_weight is None else (weight,)
            best = None
            for w in grid:
                scores = (1 - w) * probs.max(axis=1) + w * sims
                t = float(np.quantile(scores, 1 - self.in_scope_recall)) if self.in_scope_recall < 1 else -1.0
                oos_recall = float(np.mean((1 - w) * o_conf + w * o_sims < t)) if oos_texts else None
                kept = scores >= t
                accuracy = float(np.mean(correct & kept))
                key = (oos_recall if oos_recall is not None else -abs(w - DEFAULT_WEIGHT), accuracy)
                if best is None or key > best[0]:
                    best = (key, w, t, oos_recall, accuracy)
            _, weight, threshold, oos_recall, accuracy = best
            self.validation_.update(
                {
                    "classifier_accuracy": float(np.mean(correct)),
                    "in_scope_accuracy": accuracy,
                    "out_of_scope_recall": oos_recall,
                    "temperature": self.temperature_,
                }
            )
        self.similarity_weight_ = weight
        self.threshold_ = float(self.threshold) if self.threshold is not None else threshold
        self.core_ = _Core(self._core_params(), self.classes_).fit(ins_texts, y_idx)
        self.n_examples_ = len(ins_texts)
        return self

    # ----------------------------------------------------------------------------------------- predicting

    def _scores(self, X: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "core_")
        texts = _check_texts(X)
        if not texts:
            return np.zeros((0, len(self.classes_))), np.zeros(0)
        margins, sims = self.core_.margins_and_similarity(texts)
        probs = _softmax(margins, self.temperature_)
        w = self.similarity_weight_
        return probs, (1 - w) * probs.max(axis=1) + w * sims

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Calibrated probability of each intent in `classes_` (rows sum to 1; out of scope not included)."""
        return self._scores(X)[0]

    def score_samples(self, X: Sequence[str]) -> np.ndarray:
        """In-scope score of each message; below `threshold_` means out of scope."""
        return self._scores(X)[1]

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """The top intent per message, or `oos_label` when the detector abstains."""
        probs, scores = self._scores(X)
        top = self.classes_[probs.argmax(axis=1)] if len(probs) else np.array([], dtype=object)
        return np.where(scores >= self.threshold_, top, self.oos_label).astype(object)

    def decide(self, X: Sequence[str]) -> list[IntentDecision]:
        """Per message: an intent, a clarifying question between the close top intents, or out of scope."""
        probs, scores = self._scores(X)
        out = []
        for row, score in zip(probs, scores, strict=True):
            order = np.argsort(-row)
            ranked = [(str(self.classes_[i]), float(row[i])) for i in order[: self.max_choices]]
            top, conf = ranked[0]
            if score < self.threshold_:
                out.append(IntentDecision(DecisionKind.out_of_scope, None, conf, float(score), ranked))
                continue
            close = [(c, p) for c, p in ranked if conf - p <= self.margin]
            if len(close) >= 2:
                out.append(IntentDecision(DecisionKind.clarify, top, conf, float(score), close))
            else:
                out.append(IntentDecision(DecisionKind.intent, top, conf, float(score), ranked))
        return out
