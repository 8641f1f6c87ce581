"""Evaluation report: metrics, calibration, JSON and the plain-text table."""

import json

import numpy as np
import pytest

from itsm_ai.classify.estimators.classifier import TriageClassifier
from itsm_ai.classify.estimators.evaluation import brier_score, evaluate, format_report, reliability_bins


def test_brier_and_reliability_on_known_arrays():
    classes = ["a", "b"]
    assert brier_score(np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"], classes) == 0.0
    assert brier_score(np.array([[0.5, 0.5]]), ["a"], classes) == pytest.approx(0.5)
    assert brier_score(np.array([[1.0, 0.0]]), ["rare"], classes) == pytest.approx(1.0)
    rel = reliability_bins(np.array([0.95, 0.95, 0.55, 0.55]), np.array([1, 1, 1, 0], bool), n_bins=10)
    filled = [b for b in rel["bins"] if b["count"]]
    assert [(b["count"], b["accuracy"]) for b in filled] == [(2, 0.5), (2, 1.0)]
    assert rel["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)


def test_evaluate_reports_everything_as_json(assignment):
    texts, labels = assignment
    train, test = slice(0, 700), slice(700, 900)
    model = TriageClassifier("tfidf", char_ngram_range=None, random_state=0).fit(texts[train], labels[train])
    report = evaluate(model, texts[test] + ["x"], labels[test] + [None])
    json.dumps(report)
    assert report["n"] == 200
    for key in ("accuracy", "macro_f1", "top3_accuracy", "coverage", "brier"):
        assert 0.0 <= report[key] <= 2.0
    assert report["top3_accuracy"] >= report["accuracy"]
    assert report["n_trained_classes"] == len(model.classes_) < report["n_classes"]
    rare = [label for label, m in report["per_class"].items() if not m["trained"]]
    assert rare and all(report["per_class"][label]["suggested"] == 0 for label in rare)
    matrix = np.array(report["confusion"]["matrix"])
    assert matrix.shape == (report["n_classes"],) * 2 and matrix.sum() == 200
    assert sum(b["count"] for b in report["reliability"]["bins"]) == 200
    text = format_report(report)
    assert "macro-F1" in text and "GRP_0" in text and "rare" in text


def test_evaluate_needs_matching_lengths(assignment):
    texts, labels = assignment
    model = TriageClassifier("tfidf", char_ngram_range=None, threshold_cv=None).fit(texts, labels)
    with pytest.raises(ValueError, match="labels"):
        evaluate(model, texts[:5], labels[:4])
