"""Threshold maths on synthetic probabilities."""

import numpy as np
import pytest

from itsm_ai.classify.estimators.thresholds import (
    ALWAYS_ABSTAIN,
    apply_thresholds,
    per_class_thresholds,
    precision_coverage,
    threshold_for_precision,
)


def test_threshold_is_the_lowest_confidence_keeping_the_target_precision():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 1, 0, 1, 0], dtype=bool)
    # Top 4 are all right (precision 1.0); adding 0.7 gives 4/5 = 0.8; adding 0.6 gives 5/6 = 0.83.
    assert threshold_for_precision(conf, correct, target_precision=0.95) == 0.8
    assert threshold_for_precision(conf, correct, target_precision=0.8) == 0.6
    assert threshold_for_precision(conf, correct, target_precision=0.7) == 0.5


def test_ties_are_taken_together():
    conf = np.array([0.9, 0.8, 0.8, 0.8])
    correct = np.array([1, 1, 0, 1], dtype=bool)
    # "conf >= 0.8" takes all three ties: 3/4 correct, so 0.8 does not reach 0.9.
    assert threshold_for_precision(conf, correct, target_precision=0.9) == 0.9


def test_never_reached_or_too_little_support_means_always_abstain():
    assert ALWAYS_ABSTAIN > 1.0
    conf = np.array([0.9, 0.8, 0.7])
    assert threshold_for_precision(conf, np.array([0, 0, 1], bool), target_precision=0.95) == ALWAYS_ABSTAIN
    assert (
        threshold_for_precision(conf, np.ones(3, bool), target_precision=0.95, min_support=4)
        == ALWAYS_ABSTAIN
    )
    assert threshold_for_precision(np.array([]), np.array([], bool), target_precision=0.5) == ALWAYS_ABSTAIN


def test_per_class_thresholds_count_unknown_labels_as_errors():
    classes = ["a", "b"]
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9]])
    y = ["a", "rare", "a", "b", "b"]
    out = per_class_thresholds(proba, y, classes, target_precision=0.95, min_support=1)
    assert out == {"a": 0.9, "b": 0.8}
    loose = per_class_thresholds(proba, y, classes, target_precision=0.6, min_support=1)
    assert loose["a"] == 0.7


def test_precision_on_the_calibration_set_reaches_the_target():
    rng = np.random.default_rng(0)
    classes = list(range(4))
    for _ in range(20):
        n = 400
        y = rng.integers(0, 4, n)
        logits = rng.normal(size=(n, 4))
        logits[np.arange(n), y] += rng.uniform(0, 3)
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        thresholds = per_class_thresholds(proba, y, classes, target_precision=0.9, min_support=5)
        top, conf, limit, accepted = apply_thresholds(proba, classes, thresholds)
        for k in classes:
            mask = accepted & (top == k)
            if thresholds[k] < ALWAYS_ABSTAIN:
                assert mask.sum() >= 5
                assert (y[mask] == k).mean() >= 0.9
            else:
                assert not mask.any()
        summary = precision_coverage(proba, y, classes, thresholds)
        assert summary["precision"] is None or summary["precision"] >= 0.9


def test_bad_shapes_and_targets_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        per_class_thresholds(np.ones((3, 2)), [0, 1, 0], [0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        per_class_thresholds(np.ones((3, 2)) / 2, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="target_precision"):
        per_class_thresholds(np.ones((3, 2)) / 2, [0, 1, 0], [0, 1], target_precision=1.5)
