"""Honest evaluation on an event log: a time-ordered split, fixed prediction points, and the baselines.

Train on the incidents opened in the earlier 80% (by opened time), test on the later 20%; each incident is
predicted at a point of its life (`features.POINTS`) from what was known then. Breach risk is scored by AUC
and Brier against the priority-only breach rate of the training incidents; time to resolve by MAE against
the median per priority. Choices (the recency half-life) are made on the latest part of the training rows,
never on the test rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score

from itsm_ai.predictions.estimators import (
    BreachRiskClassifier,
    TimeToResolveRegressor,
    recency_weights,
)
from itsm_ai.predictions.features import event_log_snapshots, prepare_event_log

HALF_LIVES: tuple[float | None, ...] = (None, 14.0)


def read_event_log(path: str | Path, *, nrows: int | None = None) -> pd.DataFrame:
    """A ServiceNow event log file (csv or csv.gz) as `prepare_event_log` returns it."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=nrows)
    return prepare_event_log(raw)


def split_time(df: pd.DataFrame, fraction: float = 0.8) -> float:
    """The opened time that splits the incidents into the earlier `fraction` and the rest."""
    opened = df.groupby("number")["opened_at"].first().dropna().sort_values()
    return float(opened.iloc[int(len(opened) * fraction)])


def priority_rate(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """The breach rate of each test ticket's priority among training tickets (the overall rate if unseen)."""
    rates = train.groupby("priority")["breached"].mean()
    return test["priority"].map(rates).fillna(train["breached"].mean()).to_numpy(dtype=float)


def priority_median(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """The median hours to resolve of each test ticket's priority among training tickets."""
    medians = train.groupby("priority")["hours_to_resolve"].median()
    return test["priority"].map(medians).fillna(train["hours_to_resolve"].median()).to_numpy(dtype=float)


def _tail(rows: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(rows) * (1.0 - fraction))
    return rows.iloc[:cut], rows.iloc[cut:]


def choose_half_life(
    rows: pd.DataFrame, make, target: str, score, candidates: Sequence[float | None] = HALF_LIVES
) -> tuple[float | None, dict[str, float]]:
    """The recency half-life with the best score on the latest 20% of the training rows (lower is better)."""
    fit_rows, valid = _tail(rows, 0.2)
    scores = {}
    for half_life in candidates:
        model = make().fit(
            fit_rows, fit_rows[target], sample_weight=recency_weights(fit_rows["at"], half_life)
        )
        scores[str(half_life)] = float(score(model, valid))
    best = min(candidates, key=lambda h: scores[str(h)])
    return best, scores


@dataclass
class PointResult:
    """Scores of one prediction point on the test incidents."""

    point: str
    n_train: int
    n_test: int
    breach: dict[str, Any] = field(default_factory=dict)
    ttr: dict[str, Any] = field(default_factory=dict)


def _breach_score(model, rows: pd.DataFrame) -> float:
    return -roc_auc_score(rows["breached"], model.predict_proba(rows)[:, 1])


def _ttr_score(model, rows: pd.DataFrame) -> float:
    return mean_absolute_error(rows["hours_to_resolve"], model.predict(rows))


def evaluate_point(
    df: pd.DataFrame,
    point: str,
    *,
    cut: float,
    params: dict[str, Any] | None = None,
    tune: bool = True,
    half_lives: tuple[float | None, float | None] = (None, None),
) -> tuple[PointResult, BreachRiskClassifier, TimeToResolveRegressor]:
    """Fit both models on the incidents opened before `cut` and score them on the later ones at `point`.

    With `tune`, each model's recency half-life is chosen on the training rows; otherwise `half_lives`
    (breach, time to resolve) are used as given.
    """
    params = params or {}
    rows = event_log_snapshots(df, point)
    train, test = rows[rows["opened_at"] < cut], rows[rows["opened_at"] >= cut]
    result = PointResult(point, len(train), len(test))

    def breach_model():
        return BreachRiskClassifier(**params.get("breach", {}))

    half_life, scores = (
        choose_half_life(train, breach_model, "breached", _breach_score) if tune else (None, {})
    )
    breach = breach_model().fit(
        train, train["breached"], sample_weight=recency_weights(train["at"], half_life)
    )
    risk = breach.predict_proba(test)[:, 1]
    base = priority_rate(train, test)
    y = test["breached"].astype(int)
    result.breach = {
        "auc": roc_auc_score(y, risk),
        "brier": brier_score_loss(y, risk),
        "baseline_auc": roc_auc_score(y, base),
        "baseline_brier": brier_score_loss(y, base),
        "breach_rate_test": float(y.mean()),
        "half_life_days": half_life,
        "validation": scores,
    }

    ttr_train = train[train["hours_to_resolve"].notna()]
    ttr_test = test[test["hours_to_resolve"].notna()]

    def ttr_model():
        return TimeToResolveRegressor(**params.get("ttr", {}))

    half_life, scores = (
        choose_half_life(ttr_train, ttr_model, "hours_to_resolve", _ttr_score)
        if tune
        else (half_lives[1], {})
    )
    ttr = ttr_model().fit(
        ttr_train, ttr_train["hours_to_resolve"], sample_weight=recency_weights(ttr_train["at"], half_life)
    )
    quantiles = ttr.predict_quantiles(ttr_test)
    actual = ttr_test["hours_to_resolve"].to_numpy()
    baseline = priority_median(ttr_train, ttr_test)
    mae, base_mae = mean_absolute_error(actual, quantiles[:, 1]), mean_absolute_error(actual, baseline)
    result.ttr = {
        "n_test": len(ttr_test),
        "mae_hours": mae,
        "baseline_mae_hours": base_mae,
        "mae_change": mae / base_mae - 1.0,
        "median_ae_hours": float(np.median(np.abs(actual - quantiles[:, 1]))),
        "baseline_median_ae_hours": float(np.median(np.abs(actual - baseline))),
        "interval_coverage": float(np.mean((actual >= quantiles[:, 0]) & (actual <= quantiles[:, 2]))),
        "half_life_days": half_life,
        "validation": scores,
    }
    return result, breach, ttr
