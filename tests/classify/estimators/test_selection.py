"""Pipeline comparison by cross-validation, with the reason recorded."""

import json

from itsm_ai.classify.estimators.classifier import TriageClassifier
from itsm_ai.classify.estimators.selection import compare_pipelines, select_model

BASE = {"char_ngram_range": None, "calibration_cv": 2, "min_class_count": 12}


def test_compare_pipelines_records_scores_and_reason(topics, fake_encoder):
    texts, labels = topics
    record = compare_pipelines(
        texts,
        labels,
        candidates={"tfidf": {"features": "tfidf"}, "both": {"features": "both"}},
        base_params=BASE,
        cv=2,
        random_state=0,
    )
    json.dumps(record)
    assert set(record["candidates"]) == {"tfidf", "both"}
    assert record["n_samples"] == len(texts) - 1
    for scores in record["candidates"].values():
        assert len(scores["macro_f1_folds"]) == 2 and 0 < scores["macro_f1_mean"] <= 1
    assert record["selected"] in {"tfidf", "both"}
    assert record["selected"] in record["reason"] and "macro-F1" in record["reason"]


def _score(f1: float) -> dict:
    return {
        "params": {},
        "macro_f1_mean": f1,
        "macro_f1_std": 0.01,
        "macro_f1_folds": [f1, f1],
        "accuracy_mean": f1,
        "fit_seconds_per_fold": 0.0,
    }


def test_tolerance_prefers_the_cheaper_candidate(topics):
    texts, labels = topics
    candidates = {"cheap": {"features": "tfidf"}, "costly": {"features": "both"}}
    known = {"cheap": _score(0.800), "costly": _score(0.803)}
    record = compare_pipelines(texts, labels, candidates=candidates, known_scores=known, tolerance=0.005)
    assert record["selected"] == "cheap" and "cheaper" in record["reason"]
    record = compare_pipelines(texts, labels, candidates=candidates, known_scores=known, tolerance=0.001)
    assert record["selected"] == "costly" and "best" in record["reason"]


def test_select_model_refits_the_winner_with_thresholds(topics):
    texts, labels = topics
    model, record = select_model(
        texts,
        labels,
        candidates={"tfidf": {"features": "tfidf"}},
        base_params=BASE,
        cv=2,
        sample_ids=list(range(100, 100 + len(texts))),
    )
    assert isinstance(model, TriageClassifier) and model.features == "tfidf"
    assert record["selected"] == "tfidf" and model.threshold_report_ is not None
    assert model.predict_with_evidence(texts[:1])[0].evidence[0].id >= 100


def test_known_scores_are_reused_not_recomputed(topics):
    texts, labels = topics
    record = compare_pipelines(
        texts,
        labels,
        candidates={"a": {"features": "tfidf", "C": 1e-4}, "b": {"features": "tfidf"}},
        base_params=BASE,
        cv=2,
        known_scores={"b": _score(0.99)},
    )
    assert record["candidates"]["b"]["macro_f1_folds"] == [0.99, 0.99]
    assert len(record["candidates"]["a"]["macro_f1_folds"]) == 2
    assert record["selected"] == "b"


def test_selection_can_rank_by_accuracy(topics):
    texts, labels = topics
    a, b = _score(0.80), _score(0.70)
    b["accuracy_mean"] = 0.95
    record = compare_pipelines(
        texts, labels, candidates={"a": {}, "b": {}}, known_scores={"a": a, "b": b}, metric="accuracy"
    )
    assert record["selected"] == "b" and record["metric"] == "accuracy" and "accuracy" in record["reason"]
