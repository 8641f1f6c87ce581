"""The scope gate: balanced weights, thresholds from out-of-fold in-scope scores, the ask zone and the
language rule of the detector."""

from __future__ import annotations

import numpy as np
import pytest

from itsm_ai.chat import scope
from itsm_ai.chat.intents import DecisionKind, IntentDetector

PROBLEMS = [
    "printer is jammed",
    "printer offline again",
    "cannot print anything",
    "laptop does not start",
    "laptop screen black",
    "vpn keeps dropping",
    "vpn will not connect",
    "outlook crashes on start",
    "outlook not syncing mail",
    "password expired locked out",
    "account locked",
    "shared drive missing",
]
REQUESTS = [
    "need a new laptop",
    "order a headset",
    "request a second monitor",
    "please install visio",
    "new phone for a starter",
    "access to the finance share please",
]
OUTSIDE = [
    "what is the weather tomorrow",
    "will it rain in paris",
    "recipe for lasagne",
    "how do I bake bread",
    "who won the football match",
    "score of the tennis final",
    "tell me a joke",
    "book a flight to rome",
    "best pizza nearby",
    "how tall is mount everest",
]


def _data():
    X = PROBLEMS + REQUESTS + OUTSIDE
    y = ["report_problem"] * len(PROBLEMS) + ["request_item"] * len(REQUESTS) + ["oos"] * len(OUTSIDE)
    return X, y


def test_balanced_weights_give_each_side_and_each_intent_its_share():
    labels = np.array(["a"] * 90 + ["b"] * 10 + ["oos"] * 20, dtype=object)
    in_scope = labels != "oos"
    w = scope.balanced_weights(labels, in_scope)
    assert w[~in_scope].sum() == pytest.approx(w[in_scope].sum())
    # The small intent gets more weight per example than the big one, but not the big one's total.
    assert w[labels == "b"][0] > w[labels == "a"][0]
    assert w[labels == "b"].sum() <= w[labels == "a"].sum()


def test_thresholds_follow_the_in_scope_quantiles():
    scores = np.concatenate([np.linspace(0, 10, 101), np.linspace(-10, -1, 10)])
    labels = np.array(["a"] * 101 + ["oos"] * 10, dtype=object)
    refuse, ask, report = scope.thresholds(
        scores, labels, labels != "oos", refuse_quantile=0.01, ask_quantile=0.05
    )
    assert refuse == pytest.approx(0.1) and ask == pytest.approx(0.5)
    assert report["out_of_scope_refused"] == 1.0 and report["n_in_scope"] == 101
    assert report["in_scope_refused"] <= 0.01 + 1e-9


def test_thresholds_protect_small_intents_from_the_ticket_flood():
    # 1000 tickets scoring high, 20 status questions scoring low: an unweighted 1% quantile would sit
    # above every status question; weighted per intent it keeps most of them.
    scores = np.concatenate([np.linspace(5, 10, 1000), np.linspace(0, 1, 20), np.full(10, -5.0)])
    labels = np.array(["report_problem"] * 1000 + ["check_status"] * 20 + ["oos"] * 10, dtype=object)
    refuse, _, report = scope.thresholds(
        scores, labels, labels != "oos", refuse_quantile=0.01, ask_quantile=0.05
    )
    assert report["refused_by_intent"]["check_status"] <= 0.1
    assert refuse < 1.0 and report["out_of_scope_refused"] == 1.0


def test_out_of_fold_scores_never_see_the_scored_text():
    X, y = _data()
    X = X + [PROBLEMS[0]] * 3  # duplicates stay in one fold
    y = y + ["report_problem"] * 3
    labels = np.array(y, dtype=object)
    oof = scope.out_of_fold_scores(
        X,
        labels,
        labels != "oos",
        feature_params=IntentDetector()._feature_params(),
        C=1.0,
        power=0.5,
        cv=3,
        random_state=0,
    )
    assert oof.shape == (len(X),) and np.isfinite(oof).all()


def test_gate_refuses_outside_and_keeps_inside():
    X, y = _data()
    det = IntentDetector(gate_C=4.0, cv=3, random_state=0).fit(X, y)
    assert det.threshold_ <= det.ask_threshold_
    kinds = [d.kind for d in det.decide(["printer jammed on floor 2", "need a new laptop please"])]
    assert DecisionKind.out_of_scope not in kinds
    assert det.decide(["will it rain in rome tomorrow"])[0].kind == DecisionKind.out_of_scope
    assert det.validation_["scope"]["n_out_of_scope"] == len(OUTSIDE)


def test_between_the_thresholds_the_detector_asks():
    X, y = _data()
    det = IntentDetector(cv=3, random_state=0).fit(X, y)
    # Force every message into the ask zone: refuse nothing, ask about everything.
    det.threshold_, det.ask_threshold_ = -1e9, 1e9
    d = det.decide(["will it rain in rome tomorrow"])[0]
    assert d.kind == DecisionKind.unsure and d.intent in det.classes_
    assert 0.0 <= d.confidence <= 1.0


def test_uncovered_language_goes_to_the_fallback_never_to_a_refusal():
    X, y = _data()
    det = IntentDetector(cv=3, language_fallback="report_problem", random_state=0).fit(X, y)
    det.threshold_ = det.ask_threshold_ = 1e9  # would refuse everything
    d = det.decide(["打印机坏了，无法打印"])[0]
    assert d.kind == DecisionKind.intent and d.intent == "report_problem" and d.language == "zh"
    assert det.decide(["will it rain in rome tomorrow"])[0].kind == DecisionKind.out_of_scope
    assert list(det.predict(["打印机坏了，无法打印", "will it rain"])) == ["report_problem", "oos"]
    # Without a fallback the language is not checked.
    plain = IntentDetector(cv=3, random_state=0).fit(X, y)
    plain.threshold_ = plain.ask_threshold_ = 1e9
    assert plain.decide(["打印机坏了，无法打印"])[0].kind == DecisionKind.out_of_scope


def test_gate_needs_out_of_scope_examples_and_a_known_fallback():
    with pytest.raises(ValueError, match="oos"):
        IntentDetector().fit(PROBLEMS + REQUESTS, ["report_problem"] * 12 + ["request_item"] * 6)
    X, y = _data()
    with pytest.raises(ValueError, match="language_fallback"):
        IntentDetector(language_fallback="nope").fit(X, y)
    with pytest.raises(ValueError, match="abstain"):
        IntentDetector(abstain="magic").fit(X, y)
    with pytest.raises(ValueError, match="ask_quantile"):
        IntentDetector(refuse_quantile=0.2, ask_quantile=0.1).fit(X, y)


def test_similarity_rule_is_still_available_as_the_baseline():
    X, y = _data()
    det = IntentDetector(abstain="similarity", random_state=0).fit(X, y)
    assert det.gate_ is None and det.threshold_ == det.ask_threshold_
    assert det.similarity_weight_ is not None
    kinds = {d.kind for d in det.decide(X)}
    assert DecisionKind.unsure not in kinds


def test_out_of_scope_sources_share_the_out_of_scope_half():
    labels = np.array(["a"] * 10 + ["oos"] * 10 + ["oos:domains"] * 90, dtype=object)
    in_scope = labels == "a"
    by_count = scope.balanced_weights(labels, in_scope)  # oos_power 1: every out-of-scope example alike
    assert by_count[labels == "oos"][0] == pytest.approx(by_count[labels == "oos:domains"][0])
    alike = scope.balanced_weights(labels, in_scope, oos_power=0.0)  # every source alike
    assert alike[labels == "oos"].sum() == pytest.approx(alike[labels == "oos:domains"].sum())
    assert alike[~in_scope].sum() == pytest.approx(alike[in_scope].sum())


def test_source_labelled_out_of_scope_examples_are_no_intent():
    X, y = _data()
    y = [f"oos:{i % 2}" if v == "oos" else v for i, v in enumerate(y)]
    det = IntentDetector(cv=3, random_state=0).fit(X, y)
    assert set(det.classes_) == {"report_problem", "request_item"}
    assert det.n_out_of_scope_ == len(OUTSIDE)


def test_nearest_similarity_skips_the_examples_own_text():
    ref = np.eye(3, dtype=np.float32)
    query = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]], dtype=np.float32)
    assert scope.nearest_similarity(query, ref) == pytest.approx([1.0, 0.8])
    keys = np.array(["a", "b", "c"], dtype=object)
    skipped = scope.nearest_similarity(
        query, ref, query_keys=np.array(["a", "b"], dtype=object), reference_keys=keys
    )
    assert skipped == pytest.approx([0.0, 0.6])
    assert scope.nearest_similarity(query, ref[:0]) == pytest.approx([0.0, 0.0])


def test_gate_with_nearest_example_inputs_refuses_outside_and_keeps_inside():
    X, y = _data()
    det = IntentDetector(knn_weight=1.0, cv=3, random_state=0).fit(X, y)
    gate = det.gate_
    assert gate.ref_in_.shape[0] == len(PROBLEMS) + len(REQUESTS) and gate.ref_out_.shape[0] == len(OUTSIDE)
    kinds = [d.kind for d in det.decide(["printer jammed on floor 2", "need a new laptop please"])]
    assert DecisionKind.out_of_scope not in kinds
    assert det.decide(["will it rain in rome tomorrow"])[0].kind == DecisionKind.out_of_scope
    with pytest.raises(ValueError, match="knn_weight"):
        IntentDetector(knn_weight=-1.0).fit(X, y)


def test_a_detector_saved_with_a_plain_logistic_gate_still_decides():
    X, y = _data()
    det = IntentDetector(cv=3, random_state=0).fit(X, y)
    expected = det.score_samples(["printer jammed", "will it rain in rome tomorrow"])
    det.gate_ = det.gate_.model_  # what releases before the ScopeGate saved
    assert det.score_samples(["printer jammed", "will it rain in rome tomorrow"]) == pytest.approx(expected)
