"""The estimators on data built here: they learn a known signal, follow scikit-learn's rules, explain."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import mean_absolute_error, roc_auc_score

from itsm_ai.predictions.estimators import (
    BreachRiskClassifier,
    SeasonalRateModel,
    TimeToResolveRegressor,
    recency_weights,
)
from tests.predictions.conftest import synthetic_snapshots

SMALL = {"max_iter": 40, "min_samples_leaf": 10, "min_frequency": 1}


def test_breach_risk_learns_the_signal_and_is_calibrated_probabilities():
    rows = synthetic_snapshots(1200)
    train, test = rows.iloc[:900], rows.iloc[900:]
    model = BreachRiskClassifier(**SMALL).fit(train, train["breached"])
    risk = model.predict_proba(test)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()
    assert roc_auc_score(test["breached"], risk) > 0.75
    network = test["group"] == "Network"
    # Calibrated: the mean risk of a group is near its breach rate.
    assert abs(risk[network].mean() - test["breached"][network].mean()) < 0.15
    assert set(model.predict(test)) <= {0, 1}


def test_breach_risk_explains_with_the_driving_feature():
    rows = synthetic_snapshots(1200)
    model = BreachRiskClassifier(**SMALL).fit(rows, rows["breached"])
    risky = rows[(rows["group"] == "Network") & (rows["priority"] == "2")].head(3)
    for reasons in model.explain(risky, top=3):
        assert reasons, "a high-risk ticket has reasons"
        assert reasons[0]["feature"] in ("group", "priority")
        assert all(r["effect"] > 0 for r in reasons)
        assert [r["effect"] for r in reasons] == sorted((r["effect"] for r in reasons), reverse=True)


def test_breach_risk_follows_sklearn_rules():
    model = BreachRiskClassifier(learning_rate=0.1)
    assert clone(model).get_params()["learning_rate"] == 0.1
    with pytest.raises(NotFittedError):
        model.predict_proba(synthetic_snapshots(10))
    rows = synthetic_snapshots(100)
    with pytest.raises(ValueError, match="both"):
        model.fit(rows, np.zeros(100))
    with pytest.raises(ValueError, match="missing feature columns"):
        model.fit(rows.drop(columns=["group"]), rows["breached"])


def test_time_to_resolve_beats_the_overall_median_and_gives_ordered_intervals():
    rows = synthetic_snapshots(1200)
    train, test = rows.iloc[:900], rows.iloc[900:]
    model = TimeToResolveRegressor(**SMALL).fit(train, train["hours_to_resolve"])
    q = model.predict_quantiles(test)
    assert (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()
    actual = test["hours_to_resolve"]
    baseline = np.full(len(test), train["hours_to_resolve"].median())
    assert mean_absolute_error(actual, q[:, 1]) < 0.6 * mean_absolute_error(actual, baseline)
    coverage = ((actual >= q[:, 0]) & (actual <= q[:, 2])).mean()
    assert 0.6 < coverage <= 1.0
    with pytest.raises(ValueError, match="hours"):
        TimeToResolveRegressor().fit(train, -train["hours_to_resolve"])


def test_recency_weights_halve_per_half_life():
    day = 86400.0
    w = recency_weights([0.0, 7 * day, 14 * day], 7.0)
    assert np.allclose(w, [0.25, 0.5, 1.0])
    assert (recency_weights([1.0, 2.0], None) == 1).all()


def test_seasonal_rate_flags_a_burst_and_not_the_usual_rate():
    rng = np.random.default_rng(0)
    start = 1.46e9
    # Two weeks of a busy key (about 4 an hour in office hours) and a quiet one.
    busy = [
        start + h * 3600 + rng.uniform(0, 3600)
        for h in range(336)
        for _ in range(4 if 8 <= h % 24 < 18 else 0)
    ]
    quiet = list(start + rng.uniform(0, 336 * 3600, 20))
    model = SeasonalRateModel().fit(busy + quiet, ["busy"] * len(busy) + ["quiet"] * len(quiet))
    monday_10 = start + 14 * 24 * 3600 + 10 * 3600
    night = monday_10 + 14 * 3600
    assert model.expected("busy", monday_10 - 3600, monday_10) > 3 * model.expected(
        "busy", night - 3600, night
    )
    assert not model.score("busy", monday_10, 6)["anomaly"]
    assert model.score("quiet", monday_10, 6)["anomaly"]
    assert model.score("never seen", monday_10, 6)["anomaly"]
    assert not model.score("quiet", monday_10, 1)["anomaly"]
    with pytest.raises(ValueError):
        SeasonalRateModel().fit([1.0], ["a"])
