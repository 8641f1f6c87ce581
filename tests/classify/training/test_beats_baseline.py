"""The shipped triage defaults (what `itsm-ai train` makes of the rows) against the strongest simple baseline,
word (1-2) + character (2-5) n-gram TF-IDF with a LinearSVC, on slices of the real data sets.

Both are trained on the same training part of a fixed stratified split and scored once on its test part. The
slices are small, so the test allows sampling noise: two binomial standard errors of the baseline's score on
the test part. A default that falls further below the baseline fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from itsm_ai.classify.estimators.evaluation import evaluate
from itsm_ai.classify.training.data import TrainingData
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.registry import store
from tests.classify.conftest import _require

pytestmark = pytest.mark.slow


def _baseline(train_texts, train_labels, test_texts, test_labels) -> dict[str, float]:
    """Word + char TF-IDF and a LinearSVC (all classes, scikit-learn defaults): accuracy, macro-F1, top-3."""
    vectorizers = [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    ]
    train = sparse.hstack([v.fit_transform(train_texts) for v in vectorizers]).tocsr()
    test = sparse.hstack([v.transform(test_texts) for v in vectorizers]).tocsr()
    svc = LinearSVC(random_state=0).fit(train, train_labels)
    scores = svc.decision_function(test)
    truth = np.array(test_labels, dtype=object)
    predicted = svc.classes_[scores.argmax(axis=1)]
    top3 = svc.classes_[np.argsort(-scores, axis=1)[:, :3]]
    return {
        "accuracy": float((predicted == truth).mean()),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "top3_accuracy": float((top3 == truth[:, None]).any(axis=1).mean()),
    }


def _shipped_vs_baseline(texts, labels, target, tmp_path) -> tuple[dict, dict, int]:
    counts = pd.Series(labels).value_counts()
    strata = [y if counts[y] >= 10 else "__small__" for y in labels]
    train, test = train_test_split(np.arange(len(texts)), test_size=0.3, stratify=strata, random_state=0)
    tr_texts, tr_labels = [texts[i] for i in train], [labels[i] for i in train]
    te_texts, te_labels = [texts[i] for i in test], [labels[i] for i in test]
    data = TrainingData(
        texts=tr_texts, labels=tr_labels, ids=list(range(len(train))), snippets=[t[:80] for t in tr_texts]
    )
    result = train_model(data, target=target, folder=tmp_path)
    model = store.load(target, result.version, models_dir=tmp_path)
    return (
        evaluate(model, te_texts, te_labels),
        _baseline(tr_texts, tr_labels, te_texts, te_labels),
        len(test),
    )


def _noise(score: float, n: int) -> float:
    return 2 * math.sqrt(max(score * (1 - score), 0.01) / n)


def test_category_default_is_not_below_the_baseline_on_topics(tmp_path):
    frame = pd.read_csv(_require("it_tickets_topics.csv")).dropna(subset=["Topic_group"])
    frame = frame.groupby("Topic_group", sort=True).head(80)
    texts, labels = frame["Document"].astype(str).tolist(), frame["Topic_group"].tolist()
    shipped, base, n = _shipped_vs_baseline(texts, labels, "category", tmp_path)
    assert shipped["macro_f1"] >= base["macro_f1"] - _noise(base["macro_f1"], n), (shipped, base)


def test_assignment_default_is_not_below_the_baseline_on_incidents(tmp_path):
    frame = pd.read_csv(_require("ticket_assignment.csv")).dropna(subset=["Assignment group"]).head(1200)
    texts = [
        " . ".join(p for p in (s, d) if isinstance(p, str))
        for s, d in zip(frame["Short description"], frame["Description"], strict=True)
    ]
    labels = frame["Assignment group"].tolist()
    shipped, base, n = _shipped_vs_baseline(texts, labels, "assignment_group", tmp_path)
    for key in ("accuracy", "top3_accuracy"):
        assert shipped[key] >= base[key] - _noise(base[key], n), (key, shipped[key], base)
