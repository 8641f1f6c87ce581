"""`TriageClassifier`: calibrated linear triage model with per-class abstention thresholds and evidence.

How `fit` works (all inside one scikit-learn estimator):

1. Rows without a label (None, NaN, blank) are dropped (counted in `n_unlabelled_`). Classes with fewer than
   `min_class_count` examples are left out of training (`excluded_classes_`) and are never predicted.
2. Thresholds: the labelled rows are split into `threshold_cv` stratified folds; for each fold the whole
   pipeline (features + calibrated classifier) is fitted on the other folds and predicts the fold. On these
   out-of-fold probabilities of every row (rare-class rows included, as sure errors) `per_class_thresholds`
   picks each class's lowest threshold reaching `target_precision`. Cross-fitting uses every row once for
   threshold selection, which small classes need; the thresholds come from models trained on
   (k-1)/k of the data, so they are slightly conservative for the final model.
3. The final pipeline is refitted on all labelled rows. Probabilities are calibrated by
   `CalibratedClassifierCV` (`calibration`, `calibration_cv` folds). With ``calibration_ensemble=True`` the
   probabilities average `calibration_cv` models each fitted on (k-1)/k of the rows; with ``False`` one
   model is fitted on all rows (its ranking is that of the plain linear model) and the calibrator learns
   from its out-of-fold decision scores.

`clean_text=True` strips mail headers, sender addresses and greeting/closing lines (and repairs mojibake)
from training and query texts alike before any features are computed (`text.clean_ticket_text`).
With `features="both"` and `embedding_weight=0` the linear model sees only the TF-IDF n-grams while the
nearest-neighbour vote still compares sentence embeddings.

`features="fields"` routes from structured fields: X is a list of mappings (category, subcategory, symptom,
CI, location, ...), see `itsm_ai.classify.estimators.features`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from itsm_ai.classify.estimators.calibrated import calibrated_proba
from itsm_ai.classify.estimators.features import FEATURE_KINDS, TriageFeatures
from itsm_ai.classify.estimators.suggestion import Evidence, Suggestion, _plain, _snippet, is_missing_label
from itsm_ai.classify.estimators.text import clean_ticket_text
from itsm_ai.classify.estimators.thresholds import (
    ALWAYS_ABSTAIN,
    apply_thresholds,
    per_class_thresholds,
    precision_coverage,
)

CLASSIFIERS = ("svm", "logreg")
CALIBRATIONS = ("sigmoid", "isotonic", "temperature")


def _similarity_chunks(queries, references, chunk: int = 512):
    """Yield (first row, dense cosine similarities) for chunks of query rows (unit vectors on both sides)."""
    for start in range(0, queries.shape[0], chunk):
        sims = queries[start : start + chunk] @ references.T
        yield start, (sims.toarray() if sp.issparse(sims) else np.asarray(sims))


class TriageClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated linear classifier over text (or routing fields) that abstains below per-class thresholds."""

    def __init__(
        self,
        features: str = "both",
        *,
        classifier: str = "svm",
        C: float = 0.3,
        class_weight: str | dict | None = "balanced",
        calibration: str = "sigmoid",
        calibration_cv: int = 3,
        calibration_ensemble: bool = False,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        embedding_weight: float = 0.5,
        knn_weight: float = 0.2,
        knn_k: int = 10,
        knn_temperature: float = 0.05,
        field_crosses: bool = True,
        clean_text: bool = False,
        embedding_backend: str = "torch",
        min_class_count: int = 30,
        target_precision: float = 0.95,
        min_threshold_support: int = 10,
        threshold_cv: int | None = 3,
        snippet_chars: int = 160,
        random_state: int | None = None,
    ):
        self.features = features
        self.classifier = classifier
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.calibration_ensemble = calibration_ensemble
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.embedding_weight = embedding_weight
        self.knn_weight = knn_weight
        self.knn_k = knn_k
        self.knn_temperature = knn_temperature
        self.field_crosses = field_crosses
        self.clean_text = clean_text
        self.embedding_backend = embedding_backend
        self.min_class_count = min_class_count
        self.target_precision = target_precision
        self.min_threshold_support = min_threshold_support
        self.threshold_cv = threshold_cv
        self.snippet_chars = snippet_chars
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.dict = self.features == "fields"
        return tags

    # -- building blocks -------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.features not in FEATURE_KINDS:
            raise ValueError(f"features must be one of {FEATURE_KINDS}, got {self.features!r}")
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {self.classifier!r}")
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if not 0.0 < float(self.target_precision) <= 1.0:
            raise ValueError(f"target_precision must be in (0, 1], got {self.target_precision}")
        if not 0.0 <= float(self.knn_weight) <= 1.0:
            raise ValueError(f"knn_weight must be in [0, 1], got {self.knn_weight}")
        if not isinstance(self.knn_k, int) or self.knn_k < 1:
            raise ValueError(f"knn_k must be an int >= 1, got {self.knn_k!r}")
        if not isinstance(self.calibration_cv, int) or self.calibration_cv < 2:
            raise ValueError(f"calibration_cv must be an int >= 2, got {self.calibration_cv!r}")
        if not isinstance(self.calibration_ensemble, bool | np.bool_):
            raise ValueError(f"calibration_ensemble must be a bool, got {self.calibration_ensemble!r}")
        if self.threshold_cv is not None and (
            not isinstance(self.threshold_cv, int) or self.threshold_cv < 2
        ):
            raise ValueError(f"threshold_cv must be None or an int >= 2, got {self.threshold_cv!r}")
        # Every class must keep calibration_cv members in each threshold fold's training part.
        folds = self.threshold_cv or 1
        needed = math.ceil(self.calibration_cv * folds / max(folds - 1, 1))
        if not isinstance(self.min_class_count, int) or self.min_class_count < needed:
            raise ValueError(
                f"min_class_count must be an int >= {needed} with calibration_cv={self.calibration_cv} "
                f"and threshold_cv={self.threshold_cv}, got {self.min_class_count!r}"
            )

    def _make_features(self) -> TriageFeatures:
        return TriageFeatures(
            self.features,
            word_ngram_range=self.word_ngram_range,
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            embedding_weight=self.embedding_weight,
            field_crosses=self.field_crosses,
            embedding_backend=self.embedding_backend,
        )

    def _documents(self, features: TriageFeatures, X) -> list[str]:
        """The documents behind X, cleaned of mail headers and greetings when `clean_text` is set."""
        docs = features.as_documents(X)
        if self.clean_text and self.features != "fields":
            docs = [clean_ticket_text(d) for d in docs]
        return docs

    def _make_classifier(self, seed: int):
        if self.classifier == "svm":
            base = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=seed)
        else:
            base = LogisticRegression(
                C=self.C, class_weight=self.class_weight, max_iter=2000, random_state=seed
            )
        folds = StratifiedKFold(self.calibration_cv, shuffle=True, random_state=seed)
        return CalibratedClassifierCV(
            base, method=self.calibration, cv=folds, ensemble=bool(self.calibration_ensemble)
        )

    @staticmethod
    def _proba(model, matrix, n_classes: int) -> np.ndarray:
        proba = np.zeros((matrix.shape[0], n_classes))
        proba[:, model.classes_] = calibrated_proba(model, matrix)
        return proba

    def _oof_probabilities(self, docs, codes, trained_mask, seed: int) -> np.ndarray:
        """Out-of-fold probabilities for every labelled row, from pipelines fitted on the other folds."""
        n, k = len(docs), len(self.classes_)
        rng = np.random.RandomState(seed)
        fold_of = np.empty(n, dtype=np.int64)
        trained_idx = np.flatnonzero(trained_mask)
        splitter = StratifiedKFold(self.threshold_cv, shuffle=True, random_state=seed)
        for fold, (_, test) in enumerate(splitter.split(trained_idx, codes[trained_idx])):
            fold_of[trained_idx[test]] = fold
        rare_idx = np.flatnonzero(~trained_mask)
        # Rare-class rows are spread evenly over the folds, so each is predicted once as an outsider.
        fold_of[rare_idx] = (rng.permutation(len(rare_idx)) % self.threshold_cv) if len(rare_idx) else []
        oof = np.zeros((n, k))
        for fold in range(self.threshold_cv):
            test = np.flatnonzero(fold_of == fold)
            train = np.flatnonzero(fold_of != fold)
            feats = self._make_features().fit([docs[i] for i in train])
            fit_rows = train[trained_mask[train]]
            matrix, dense, sparse_sim = feats.transform_parts([docs[i] for i in fit_rows])
            model = self._make_classifier(seed + fold + 1).fit(matrix, codes[fit_rows])
            t_matrix, t_dense, t_sparse = feats.transform_parts([docs[i] for i in test])
            oof[test] = self._combine(
                self._proba(model, t_matrix, k),
                t_dense if t_dense is not None else t_sparse,
                dense if dense is not None else sparse_sim,
                codes[fit_rows],
            )
        return oof

    def _combine(
        self,
        proba: np.ndarray,
        queries,
        references,
        ref_codes: np.ndarray,
        *,
        similarities: np.ndarray | None = None,
    ) -> np.ndarray:
        """Blend the linear model's probabilities with a similarity-weighted vote of the nearest rows."""
        if not self.knn_weight:
            return proba
        knn = np.zeros_like(proba)
        outsiders = ref_codes < 0  # rows of rare classes: shown as evidence, never voted
        k = min(self.knn_k, int((~outsiders).sum()))
        ref_codes = np.maximum(ref_codes, 0)
        # Precomputed similarities (all rows, one chunk) are copied: the loop masks them in place.
        chunks = (
            _similarity_chunks(queries, references) if similarities is None else [(0, similarities.copy())]
        )
        for start, sims in chunks:
            sims[:, outsiders] = -np.inf
            nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            near_sims = np.take_along_axis(sims, nearest, axis=1)
            weights = np.exp((near_sims - near_sims.max(axis=1, keepdims=True)) / self.knn_temperature)
            weights /= weights.sum(axis=1, keepdims=True)
            rows = np.repeat(np.arange(start, start + sims.shape[0]), k)
            np.add.at(knn, (rows, ref_codes[nearest].ravel()), weights.ravel())
        return (1.0 - self.knn_weight) * proba + self.knn_weight * knn

    # -- scikit-learn API ------------------------------------------------------------------------------

    def fit(self, X, y, *, sample_ids: Sequence | None = None, sample_texts: Sequence[str] | None = None):
        """Fit on texts (or field mappings) and labels; ids/texts of the rows are kept as evidence."""
        self._check_params()
        probe = self._make_features()
        docs_all = self._documents(probe, X)
        labels_all = list(y)
        if len(labels_all) != len(docs_all):
            raise ValueError(f"X has {len(docs_all)} rows but y has {len(labels_all)} labels")
        for name, extra in (("sample_ids", sample_ids), ("sample_texts", sample_texts)):
            if extra is not None and len(extra) != len(docs_all):
                raise ValueError(f"{name} has {len(extra)} entries for {len(docs_all)} rows of X")
        keep = [i for i, label in enumerate(labels_all) if not is_missing_label(label)]
        self.n_unlabelled_ = len(docs_all) - len(keep)
        docs = [docs_all[i] for i in keep]
        labels = [_plain(labels_all[i]) for i in keep]
        counts = Counter(labels)
        trained = [c for c, n in counts.items() if n >= self.min_class_count]
        try:
            trained.sort()
        except TypeError:
            trained.sort(key=str)
        if len(trained) < 2:
            raise ValueError(
                f"need at least 2 classes with >= {self.min_class_count} labelled examples, "
                f"got {len(trained)} (label counts: {dict(counts.most_common(10))})"
            )
        self.classes_ = np.array(trained, dtype=object if any(isinstance(c, str) for c in trained) else None)
        self.excluded_classes_ = {
            c: n for c, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n < self.min_class_count
        }
        index = {c: i for i, c in enumerate(trained)}
        codes = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
        trained_mask = codes >= 0
        self.n_training_samples_ = int(trained_mask.sum())
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))

        if self.threshold_cv:
            oof = self._oof_probabilities(docs, codes, trained_mask, seed)
            self.thresholds_ = per_class_thresholds(
                oof,
                labels,
                trained,
                target_precision=self.target_precision,
                min_support=self.min_threshold_support,
            )
            self.threshold_report_ = precision_coverage(oof, labels, trained, self.thresholds_)
        else:
            self.thresholds_ = dict.fromkeys(trained, 0.0)
            self.threshold_report_ = None

        self.features_ = self._make_features().fit(docs)
        matrix, embeddings, sparse_sim = self.features_.transform_parts(docs)
        self.estimator_ = self._make_classifier(seed).fit(matrix[trained_mask], codes[trained_mask])

        # Evidence: unit vectors of every labelled row (dense embeddings when there are any).
        self.evidence_vectors_ = embeddings if embeddings is not None else sp.csr_matrix(sparse_sim)
        self.evidence_labels_ = np.array(labels, dtype=object)
        self.evidence_codes_ = codes
        ids = list(sample_ids) if sample_ids is not None else list(range(len(docs_all)))
        self.evidence_ids_ = [_plain(ids[i]) for i in keep]
        if sample_texts is not None:
            texts = [sample_texts[i] for i in keep]
        elif self.features == "fields":
            plain = probe.set_params(field_crosses=False).as_documents(X)
            texts = [plain[i] for i in keep]
        else:
            texts = docs
        self.evidence_texts_ = [_snippet(t if isinstance(t, str) else "", self.snippet_chars) for t in texts]
        return self

    def registry_metadata(self) -> dict[str, Any]:
        """What a saved version's metadata shows: class thresholds, excluded classes, the threshold report."""
        learned = (
            ("thresholds_", "thresholds"),
            ("excluded_classes_", "excluded_classes"),
            ("threshold_report_", "threshold_report"),
        )
        return {key: getattr(self, attr) for attr, key in learned if hasattr(self, attr)}

    def _transform(self, X):
        check_is_fitted(self, "estimator_")
        return self.features_.transform_parts(self._documents(self.features_, X))

    def _predict_parts(self, X, *, keep_sims: bool = False):
        """(probabilities, query vectors, documents, a lone row's similarities to the evidence or None)."""
        check_is_fitted(self, "estimator_")
        docs = self._documents(self.features_, X)
        matrix, dense, sparse_sim = self.features_.transform_parts(docs)
        queries = dense if dense is not None else sparse_sim
        proba = self._proba(self.estimator_, matrix, len(self.classes_))
        sims = None
        if keep_sims and queries.shape[0] == 1:
            # The same product the evidence search of that row makes: computed once, used twice.
            sims = next(_similarity_chunks(queries, self.evidence_vectors_))[1]
        if self.knn_weight:
            proba = self._combine(
                proba, queries, self.evidence_vectors_, self.evidence_codes_, similarities=sims
            )
        return proba, queries, docs, sims

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated probabilities (blended with the nearest-neighbour vote), columns as in `classes_`."""
        return self._predict_parts(X)[0]

    def predict(self, X) -> np.ndarray:
        """Most probable class for each row (never abstains; see `predict_with_evidence`)."""
        check_is_fitted(self, "estimator_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_with_evidence(self, X, k_alternatives: int = 3, k_evidence: int = 3) -> list[Suggestion]:
        """A `Suggestion` per row: value or abstention and why, top-k alternatives, nearest training rows."""
        proba, queries, docs, lone_sims = self._predict_parts(X, keep_sims=True)
        top, conf, limits, accepted = apply_thresholds(proba, list(self.classes_), self.thresholds_)
        out = []
        for row in range(proba.shape[0]):
            if lone_sims is not None:
                sims = lone_sims[0]
            else:
                sims = next(_similarity_chunks(queries[row : row + 1], self.evidence_vectors_))[1][0]
            label = _plain(self.classes_[top[row]])
            reason = None
            if not docs[row].strip():
                reason = "empty input"
            elif limits[row] >= ALWAYS_ABSTAIN:
                reason = (
                    f"{label!r} never reached precision {self.target_precision:.2f} on held-out tickets, "
                    "so it is always left to a person"
                )
            elif not accepted[row]:
                reason = f"confidence {conf[row]:.2f} is below the threshold {limits[row]:.2f} of {label!r}"
            order = np.argsort(-proba[row], kind="stable")[: max(0, k_alternatives)]
            alternatives = tuple((_plain(self.classes_[j]), float(proba[row, j])) for j in order)
            value = label if reason is None else None
            out.append(
                Suggestion(
                    value=value,
                    confidence=float(conf[row]),
                    abstained=reason is not None,
                    reason=reason,
                    threshold=float(limits[row]),
                    alternatives=alternatives,
                    evidence=self._evidence(sims, value, k_evidence),
                )
            )
        return out

    def _evidence(self, sims: np.ndarray, label: Any, k: int) -> tuple[Evidence, ...]:
        """The k most similar training rows with that label (any label when abstaining)."""
        if k <= 0 or sims.size == 0:
            return ()
        candidates = (
            np.flatnonzero(self.evidence_labels_ == label) if label is not None else np.arange(sims.size)
        )
        if candidates.size == 0:
            return ()
        k = min(k, candidates.size)
        part = candidates[np.argpartition(-sims[candidates], k - 1)[:k]]
        best = part[np.argsort(-sims[part], kind="stable")]
        return tuple(
            Evidence(
                id=self.evidence_ids_[i],
                text=self.evidence_texts_[i],
                label=self.evidence_labels_[i],
                similarity=float(sims[i]),
            )
            for i in best
        )
