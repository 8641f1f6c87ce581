"""TriageClassifier: scikit-learn rules, abstention, rare classes, evidence, persistence."""

import copy
import json

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from itsm_ai.classify.estimators import calibrated, classifier, features
from itsm_ai.classify.estimators.calibrated import calibrated_proba
from itsm_ai.classify.estimators.classifier import TriageClassifier
from itsm_ai.classify.estimators.suggestion import Suggestion
from itsm_ai.classify.estimators.thresholds import ALWAYS_ABSTAIN
from itsm_ai.registry import store

FAST = {"features": "tfidf", "char_ngram_range": None, "random_state": 0}


@pytest.fixture(scope="module")
def fitted(topics):
    texts, labels = topics
    ids = [f"T{i}" for i in range(len(texts))]
    return TriageClassifier(**FAST).fit(texts, labels, sample_ids=ids)


def test_init_only_stores_params_and_clone_works():
    model = TriageClassifier("tfidf", C=2.0, random_state=3)
    assert not [k for k in vars(model) if k.endswith("_")]
    params = model.get_params()
    assert params["C"] == 2.0 and params["features"] == "tfidf" and params["random_state"] == 3
    copy = clone(model)
    assert copy is not model and copy.get_params() == params
    assert model.set_params(C=0.5) is model and model.C == 0.5


def test_fit_returns_self_drops_the_unlabelled_row_and_is_reproducible(topics, fitted):
    texts, labels = topics
    model = TriageClassifier(**FAST)
    assert model.fit(texts, labels) is model
    assert model.n_unlabelled_ == 1
    assert sorted(model.classes_) == sorted({label for label in labels if isinstance(label, str)})
    assert set(model.thresholds_) == set(model.classes_)
    assert model.threshold_report_["n"] == len(texts) - 1
    # Same data and random_state as the fixture: the same thresholds and probabilities.
    assert model.thresholds_ == fitted.thresholds_
    assert np.allclose(model.predict_proba(texts[:10]), fitted.predict_proba(texts[:10]))


def test_not_fitted_errors():
    model = TriageClassifier(**FAST)
    for method in (model.predict, model.predict_proba, model.predict_with_evidence):
        with pytest.raises(NotFittedError):
            method(["printer broken"])


def test_bad_input_gets_a_clear_error(topics):
    texts, labels = topics
    with pytest.raises(ValueError, match="labels"):
        TriageClassifier(**FAST).fit(texts, labels[:-3])
    with pytest.raises(TypeError, match=r"X\[0\]"):
        TriageClassifier(**FAST).fit([1, 2], ["a", "b"])
    with pytest.raises(ValueError, match="features"):
        TriageClassifier("words").fit(texts, labels)
    with pytest.raises(ValueError, match="min_class_count"):
        TriageClassifier(**FAST, min_class_count=2).fit(texts, labels)
    with pytest.raises(ValueError, match="at least 2 classes"):
        TriageClassifier(**FAST).fit(texts[:40], labels[:40])


def test_probabilities_and_predictions(fitted, topics):
    texts = topics[0][:30]
    proba = fitted.predict_proba(texts)
    assert proba.shape == (30, len(fitted.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(fitted.predict(texts)) == list(fitted.classes_[proba.argmax(axis=1)])
    assert fitted.score(topics[0][:-1], topics[1][:-1]) > 0.7  # training data: a sanity check only


def test_suggestions_have_alternatives_and_supporting_evidence(fitted, topics):
    texts = topics[0][:25] + [""]
    suggestions = fitted.predict_with_evidence(texts, k_alternatives=3, k_evidence=2)
    assert len(suggestions) == len(texts)
    assert all(isinstance(s, Suggestion) for s in suggestions)
    accepted = [s for s in suggestions if not s.abstained]
    assert accepted, "some training-like tickets should be suggested"
    for s in suggestions:
        probs = [p for _, p in s.alternatives]
        assert len(s.alternatives) == 3 and probs == sorted(probs, reverse=True)
        assert s.confidence == pytest.approx(probs[0])
        assert len(s.evidence) == 2
        sims = [e.similarity for e in s.evidence]
        assert sims == sorted(sims, reverse=True)
        assert all(str(e.id).startswith("T") for e in s.evidence)
        if s.abstained:
            assert s.value is None and s.reason
        else:
            assert s.value == s.alternatives[0][0] and s.confidence >= s.threshold and s.reason is None
            assert all(e.label == s.value for e in s.evidence)
        json.dumps(s.to_dict())
    assert suggestions[-1].abstained and suggestions[-1].reason == "empty input"
    with pytest.raises(AttributeError):
        suggestions[0].value = "x"  # frozen


def test_rare_classes_are_never_predicted_and_abstain(assignment):
    texts, labels = assignment
    model = TriageClassifier(**FAST).fit(texts, labels)
    counts = {g: labels.count(g) for g in set(labels)}
    assert set(model.classes_) == {g for g, n in counts.items() if n >= 30}
    assert set(model.excluded_classes_) == {g for g, n in counts.items() if n < 30}
    rare_rows = [t for t, g in zip(texts, labels, strict=True) if g in model.excluded_classes_][:40]
    assert set(model.predict(rare_rows)) <= set(model.classes_)
    for s in model.predict_with_evidence(rare_rows):
        assert s.value is None or s.value in model.classes_


def test_clean_text_cleans_training_and_query_texts(assignment):
    texts, labels = assignment
    params = {**FAST, "clean_text": True}
    model = TriageClassifier(**params).fit(texts, labels)
    assert not any("received from" in t for t in model.evidence_texts_)
    header = "\r\n\r\nreceived from: someone.else@gmail.com\r\n\r\nhello,\r\n\r\n"
    noisy = [f"{t}{header}" for t in texts[:20]]
    assert np.allclose(model.predict_proba(noisy), model.predict_proba(texts[:20]))
    plain = TriageClassifier(**FAST).fit(texts, labels)
    assert not np.allclose(plain.predict_proba(noisy), plain.predict_proba(texts[:20]))


def test_a_class_that_never_reaches_the_precision_always_abstains(fitted, topics):
    model = copy.deepcopy(fitted)
    label = model.classes_[0]
    model.thresholds_ = {**model.thresholds_, label: ALWAYS_ABSTAIN}
    rows = [t for t, y in zip(*topics, strict=True) if y == label][:10]
    for s in model.predict_with_evidence(rows):
        if s.alternatives[0][0] == label:
            assert s.abstained and "never reached" in s.reason


def test_joblib_round_trip(fitted, topics, tmp_path):
    path = tmp_path / "m.joblib"
    joblib.dump(fitted, path)
    again = joblib.load(path)
    texts = topics[0][:20]
    assert np.allclose(again.predict_proba(texts), fitted.predict_proba(texts))
    assert again.predict_with_evidence(texts[:3]) == fitted.predict_with_evidence(texts[:3])


def test_routing_from_structured_fields(routing):
    records, groups = routing
    model = TriageClassifier("fields", random_state=0).fit(records, groups)
    assert "Group 70" in model.classes_
    suggestion = model.predict_with_evidence(records[:1])[0]
    assert (
        suggestion.evidence and "=" in suggestion.evidence[0].text and "&" not in suggestion.evidence[0].text
    )
    assert (model.predict(records) == np.array(groups, dtype=object)).mean() > 0.3


def test_embedding_features_with_a_stand_in_encoder(fake_encoder, topics):
    texts, labels = topics
    model = TriageClassifier("both", char_ngram_range=None, random_state=0).fit(texts, labels)
    assert model.evidence_vectors_.shape == (len(texts) - 1, 384)
    s = model.predict_with_evidence(texts[:2])[0]
    assert -1.0 <= s.evidence[0].similarity <= 1.0 + 1e-6


def test_zero_embedding_weight_keeps_embeddings_for_the_neighbour_vote_only(fake_encoder, topics):
    texts, labels = topics
    params = {"char_ngram_range": None, "threshold_cv": None, "embedding_weight": 0.0, "random_state": 0}
    linear_only = TriageClassifier("both", knn_weight=0.0, **params).fit(texts, labels)
    tfidf = TriageClassifier("tfidf", knn_weight=0.0, **params).fit(texts, labels)
    assert np.allclose(linear_only.predict_proba(texts[:30]), tfidf.predict_proba(texts[:30]), atol=1e-6)
    blended = TriageClassifier("both", knn_weight=0.3, **params).fit(texts, labels)
    assert blended.evidence_vectors_.shape == (len(texts) - 1, 384)
    assert not np.allclose(blended.predict_proba(texts[:30]), linear_only.predict_proba(texts[:30]))


@pytest.mark.slow
def test_real_sentence_embeddings_end_to_end(topics, tmp_path):
    from itsm_ai.classify.estimators.features import clear_embedding_cache

    texts, labels = topics
    texts, labels = texts[::2], labels[::2]  # 20 per class is enough without threshold folds
    model = TriageClassifier("embedding", min_class_count=10, threshold_cv=None, random_state=0)
    model.fit(texts, labels)
    assert model.score(texts, labels) > 0.7
    joblib.dump(model, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    assert getattr(again.features_.embedding_, "_encoder", None) is None
    clear_embedding_cache()  # force the reloaded model to embed again
    assert np.allclose(again.predict_proba(texts[:5]), model.predict_proba(texts[:5]), atol=1e-4)
    best = again.predict_with_evidence([texts[0]], k_evidence=1)[0]
    assert best.evidence[0].similarity > 0.5


def _two_topics(topics):
    keep = sorted({y for y in topics[1] if isinstance(y, str)})[:2]
    rows = [(t, y) for t, y in zip(*topics, strict=True) if y in keep]
    return [t for t, _ in rows], [y for _, y in rows]


@pytest.mark.parametrize(
    "case",
    ["multiclass", "binary", "logreg", "both_features", "isotonic", "temperature", "not_ensembled"],
)
def test_fast_calibrated_probabilities_equal_scikit_learns_exactly(case, fitted, topics, fake_encoder):
    texts, labels = _two_topics(topics) if case == "binary" else topics
    params = {
        "multiclass": None,
        "binary": FAST,
        "logreg": {**FAST, "classifier": "logreg"},
        "both_features": {"features": "both", "char_ngram_range": None, "random_state": 0},
        "isotonic": {**FAST, "calibration": "isotonic"},
        "temperature": {**FAST, "calibration": "temperature"},
        "not_ensembled": {**FAST, "calibration_ensemble": False},
    }[case]
    model = fitted if params is None else TriageClassifier(**params).fit(texts, labels)
    queries = [*texts[:30], "", "printer on the third floor is offline again"]
    matrix = model._transform(queries)[0]
    expected = model.estimator_.predict_proba(matrix)
    assert np.array_equal(calibrated_proba(model.estimator_, matrix), expected)
    # Only plain Platt scaling takes the fast path; other calibrations are scikit-learn's own.
    assert (calibrated.sigmoid_parts(model.estimator_) is None) == (case in ("isotonic", "temperature"))


def test_suggestions_are_unchanged_by_the_fast_probabilities(fitted, topics, monkeypatch):
    texts = [*topics[0][:40], ""]
    fast = fitted.predict_with_evidence(texts, k_alternatives=3, k_evidence=3)
    fast_proba = fitted.predict_proba(texts)
    monkeypatch.setattr(classifier, "calibrated_proba", lambda model, matrix: model.predict_proba(matrix))
    assert fitted.predict_with_evidence(texts, k_alternatives=3, k_evidence=3) == fast
    assert np.array_equal(fitted.predict_proba(texts), fast_proba)


def _scikit_learn_path(monkeypatch) -> None:
    """Every prediction speed-up off: scikit-learn's transforms and probabilities, similarities per row."""
    parts = TriageClassifier._predict_parts
    monkeypatch.setattr(features, "FAST_TRANSFORM_MAX_DOCS", -1)
    monkeypatch.setattr(classifier, "calibrated_proba", lambda model, matrix: model.predict_proba(matrix))
    monkeypatch.setattr(TriageClassifier, "_predict_parts", lambda self, X, keep_sims=False: parts(self, X))


@pytest.mark.parametrize("case", ["tfidf", "word_and_char", "both_clean_text"])
def test_one_ticket_suggestions_equal_the_scikit_learn_path(case, fitted, topics, fake_encoder, monkeypatch):
    texts, labels = topics
    model = {
        "tfidf": lambda: fitted,
        "word_and_char": lambda: TriageClassifier("tfidf", random_state=0).fit(texts, labels),
        "both_clean_text": lambda: TriageClassifier(
            "both", char_ngram_range=(3, 4), clean_text=True, random_state=0
        ).fit(texts, labels),
    }[case]()
    queries = [
        *texts[:25],
        "",
        "hello team,\nmy Drucker im 3. Stock druckt nicht – grüße, ☕ 日本語\nkind regards",
        "zzqx unseenword qqqq",
    ]
    fast = [model.predict_with_evidence([q], k_evidence=5) for q in queries]
    fast_batch = model.predict_with_evidence(queries, k_evidence=5)
    fast_proba = model.predict_proba(queries[:3])
    _scikit_learn_path(monkeypatch)
    assert [model.predict_with_evidence([q], k_evidence=5) for q in queries] == fast
    assert model.predict_with_evidence(queries, k_evidence=5) == fast_batch
    assert np.array_equal(model.predict_proba(queries[:3]), fast_proba)


def test_cached_calibration_parts_follow_a_refit(topics):
    texts, labels = topics
    model = TriageClassifier(**FAST).fit(texts, labels)
    matrix = model._transform(texts[:10])[0]
    calibrated = model.estimator_
    assert np.array_equal(calibrated_proba(calibrated, matrix), calibrated.predict_proba(matrix))
    # Refitting the same calibrated model on other rows must not reuse the first fit's parts.
    labelled = [t for t, y in zip(texts, labels, strict=True) if isinstance(y, str)]
    train = model.features_.transform(labelled)[::2]
    codes = model.evidence_codes_[::2]
    calibrated.fit(train[codes >= 0], codes[codes >= 0])
    assert np.array_equal(calibrated_proba(calibrated, matrix), calibrated.predict_proba(matrix))


def test_a_triage_model_round_trips_with_its_thresholds(topics, tmp_path):
    texts, labels = topics
    model = TriageClassifier("tfidf", char_ngram_range=None, random_state=0).fit(texts, labels)
    data = store.data_snapshot(texts, labels)
    version = store.save(
        model, name="category", metadata={"data": data}, models_dir=tmp_path, promote=True
    )
    meta = store.read_metadata("category", models_dir=tmp_path)
    assert meta["thresholds"] == {str(k): v for k, v in model.thresholds_.items()}
    assert meta["classes"] == list(model.classes_) and meta["params"]["features"] == "tfidf"
    assert meta["data"]["size"] == len(texts) and meta["version"] == version
    again = store.load("category", models_dir=tmp_path)
    assert again.predict_with_evidence(texts[:2]) == model.predict_with_evidence(texts[:2])


def test_calibration_without_ensemble_ranks_like_one_model_fitted_on_every_row(topics):
    from sklearn.svm import LinearSVC

    texts, labels = topics
    model = TriageClassifier(**FAST, calibration_ensemble=False, threshold_cv=None, knn_weight=0.0)
    assert model.fit(texts, labels) is model
    (pair,) = model.estimator_.calibrated_classifiers_
    matrix = model._transform(texts)[0]
    keep = [i for i, y in enumerate(labels) if isinstance(y, str)]
    alone = LinearSVC(C=model.C, class_weight=model.class_weight, random_state=0)
    alone.fit(matrix[keep], model.classes_.searchsorted(np.array(labels, dtype=object)[keep]))
    # One linear model fitted on all labelled rows: the same weights as fitting it by hand.
    assert pair.estimator.coef_.shape == alone.coef_.shape
    assert np.abs(pair.estimator.coef_ - alone.coef_).max() < 1e-2
    proba = model.predict_proba(texts[:20])
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_calibration_ensemble_must_be_a_bool(topics, bad):
    texts, labels = topics
    with pytest.raises(ValueError, match="calibration_ensemble"):
        TriageClassifier(**FAST, calibration_ensemble=bad).fit(texts, labels)
