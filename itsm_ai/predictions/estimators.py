"""The prediction models, scikit-learn style: SLA-breach risk, time to resolve, and arrival-rate anomalies.

- `BreachRiskClassifier`: gradient-boosted trees on a ticket snapshot (`features.FEATURES`), calibrated with
  isotonic regression on the latest part of its training rows (rows come in time order), so a 0.8 means about
  8 in 10 such tickets breached lately; `explain` names the features that raise one ticket's risk most.
- `TimeToResolveRegressor`: quantile gradient boosting on log hours (the 10th, 50th and 90th percentiles):
  the median is the point estimate (what minimises absolute error), the outer two the interval.
- `SeasonalRateModel`: ticket arrivals per key (category or CI) as a Poisson rate times an hour-of-week
  profile (daily and weekly seasonality); a window with far more arrivals than expected is an anomaly.

Pure: numpy, pandas and scikit-learn; no database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from itsm_ai.predictions.features import CATEGORICAL, FEATURES, LABELS, NUMERIC, frame

WEEK_HOURS = 168


def recency_weights(times: Sequence[float], half_life_days: float | None) -> np.ndarray:
    """Sample weights halving every `half_life_days` before the newest time (all 1 when None)."""
    times = np.asarray(times, dtype=float)
    if half_life_days is None or len(times) == 0:
        return np.ones(len(times))
    age_days = (np.nanmax(times) - times) / 86400.0
    return np.power(0.5, age_days / float(half_life_days))


def _encoder(min_frequency: int) -> ColumnTransformer:
    ordinal = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        min_frequency=min_frequency,
        max_categories=250,
    )
    return ColumnTransformer(
        [("cat", ordinal, list(CATEGORICAL)), ("num", "passthrough", list(NUMERIC))],
        verbose_feature_names_out=False,
    )


def _matrix(X: Any) -> pd.DataFrame:
    return frame(X).reset_index(drop=True)


def _categorical_mask() -> list[bool]:
    return [True] * len(CATEGORICAL) + [False] * len(NUMERIC)


class BreachRiskClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated probability that a ticket breaches its SLA, from a snapshot known at prediction time."""

    def __init__(
        self,
        *,
        learning_rate: float = 0.06,
        max_iter: int = 300,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        min_frequency: int = 10,
        calibration_fraction: float = 0.2,
        random_state: int | None = 0,
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.min_frequency = min_frequency
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def _booster(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=_categorical_mask(),
            early_stopping=True,
            n_iter_no_change=20,
            random_state=self.random_state,
        )

    def fit(self, X, y, sample_weight=None) -> BreachRiskClassifier:
        """Fit on snapshots in time order: trees on the earlier rows, the calibration on the latest ones."""
        data = _matrix(X)
        target = np.asarray(y).astype(int)
        if len(data) != len(target):
            raise ValueError(f"X has {len(data)} rows but y has {len(target)}")
        if len(np.unique(target)) < 2:
            raise ValueError("y needs both breached and met tickets")
        if not 0.0 < self.calibration_fraction < 0.9:
            raise ValueError(f"calibration_fraction must be in (0, 0.9), got {self.calibration_fraction}")
        weight = np.ones(len(target)) if sample_weight is None else np.asarray(sample_weight, float)
        split = int(len(target) * (1.0 - self.calibration_fraction))
        self.classes_ = np.array([0, 1])
        self.encoder_ = _encoder(self.min_frequency).fit(data)
        matrix = self.encoder_.transform(data)
        first = self._booster().fit(matrix[:split], target[:split], sample_weight=weight[:split])
        raw = first.predict_proba(matrix[split:])[:, 1]
        self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        self.calibrator_.fit(raw, target[split:], sample_weight=weight[split:])
        # The trees are refit on every row (the latest matter most under drift); the calibrator learned on
        # held-out scores of the same kind of model.
        self.booster_ = self._booster().fit(matrix, target, sample_weight=weight)
        self.reference_ = {
            name: (data[name].mode(dropna=True).iloc[0] if data[name].notna().any() else None)
            for name in CATEGORICAL
        } | {name: float(np.nanmedian(data[name])) if data[name].notna().any() else 0.0 for name in NUMERIC}
        self.n_features_in_ = len(FEATURES)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """[P(met), P(breach)] per snapshot."""
        check_is_fitted(self, "booster_")
        raw = self.booster_.predict_proba(self.encoder_.transform(_matrix(X)))[:, 1]
        risk = np.clip(self.calibrator_.predict(raw), 0.0, 1.0)
        return np.column_stack([1.0 - risk, risk])

    def predict(self, X) -> np.ndarray:
        """1 where the breach risk is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def explain(self, X, *, top: int = 3) -> list[list[dict[str, Any]]]:
        """Per snapshot, the features that raise its risk most over a typical value (largest first)."""
        check_is_fitted(self, "booster_")
        data = _matrix(X).reset_index(drop=True)
        base = self.predict_proba(data)[:, 1]
        variants = []
        for name in FEATURES:
            changed = data.copy()
            changed[name] = self.reference_[name]
            variants.append(changed)
        risks = self.predict_proba(pd.concat(variants, ignore_index=True))[:, 1].reshape(len(FEATURES), -1)
        out = []
        for row in range(len(data)):
            found = []
            for k, name in enumerate(FEATURES):
                delta = float(base[row] - risks[k, row])
                value = data.at[row, name]
                if (
                    delta > 0.005
                    and value is not None
                    and not (isinstance(value, float) and math.isnan(value))
                ):
                    found.append(
                        {
                            "feature": name,
                            "label": LABELS[name],
                            "value": value.item() if hasattr(value, "item") else value,
                            "typical": self.reference_[name],
                            "effect": round(delta, 4),
                        }
                    )
            out.append(sorted(found, key=lambda r: -r["effect"])[:top])
        return out

    def registry_metadata(self) -> dict[str, Any]:
        """What the registry records about this model."""
        return {"target": "sla_breach", "features": list(FEATURES)}


class TimeToResolveRegressor(RegressorMixin, BaseEstimator):
    """Hours until a ticket is resolved: the median as the estimate, two outer quantiles as the interval."""

    def __init__(
        self,
        *,
        quantiles: tuple[float, float, float] = (0.1, 0.5, 0.9),
        learning_rate: float = 0.06,
        max_iter: int = 300,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        min_frequency: int = 10,
        random_state: int | None = 0,
    ):
        self.quantiles = quantiles
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.min_frequency = min_frequency
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None) -> TimeToResolveRegressor:
        """Fit one quantile model per quantile on log(1 + hours)."""
        data = _matrix(X)
        hours = np.asarray(y, dtype=float)
        if len(data) != len(hours):
            raise ValueError(f"X has {len(data)} rows but y has {len(hours)}")
        if np.isnan(hours).any() or (hours < 0).any():
            raise ValueError("y must be hours >= 0 without missing values")
        low, mid, high = self.quantiles
        if not 0.0 < low < mid < high < 1.0:
            raise ValueError(f"quantiles must be increasing in (0, 1), got {self.quantiles}")
        self.encoder_ = _encoder(self.min_frequency).fit(data)
        matrix = self.encoder_.transform(data)
        target = np.log1p(hours)
        self.models_ = [
            HistGradientBoostingRegressor(
                loss="quantile",
                quantile=q,
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                categorical_features=_categorical_mask(),
                early_stopping=True,
                n_iter_no_change=20,
                random_state=self.random_state,
            ).fit(matrix, target, sample_weight=sample_weight)
            for q in self.quantiles
        ]
        self.n_features_in_ = len(FEATURES)
        return self

    def predict_quantiles(self, X) -> np.ndarray:
        """Hours at each quantile per snapshot (columns low, median, high; never crossing)."""
        check_is_fitted(self, "models_")
        matrix = self.encoder_.transform(_matrix(X))
        logs = np.column_stack([m.predict(matrix) for m in self.models_])
        return np.expm1(np.maximum(np.sort(logs, axis=1), 0.0))

    def predict(self, X) -> np.ndarray:
        """The median hours to resolve per snapshot."""
        return self.predict_quantiles(X)[:, 1]

    def registry_metadata(self) -> dict[str, Any]:
        """What the registry records about this model."""
        return {"target": "time_to_resolve", "features": list(FEATURES), "quantiles": list(self.quantiles)}


class SeasonalRateModel(BaseEstimator):
    """Arrivals per key (category, CI) as rate x hour-of-week profile; flags windows far above it."""

    def __init__(
        self,
        *,
        window_hours: float = 1.0,
        alpha: float = 1e-4,
        min_count: int = 5,
        prior_hours: float = 168.0,
    ):
        self.window_hours = window_hours
        self.alpha = alpha
        self.min_count = min_count
        self.prior_hours = prior_hours

    def fit(self, times, keys) -> SeasonalRateModel:
        """Learn each key's mean hourly rate and the shared hour-of-week profile from arrivals (epoch s)."""
        stamps = np.asarray(times, dtype=float)
        labels = np.asarray(keys, dtype=object)
        if len(stamps) != len(labels):
            raise ValueError(f"times has {len(stamps)} values but keys has {len(labels)}")
        if len(stamps) < 2:
            raise ValueError("need at least two arrivals")
        if self.window_hours <= 0:
            raise ValueError(f"window_hours must be > 0, got {self.window_hours}")
        hour_of_week = _hour_of_week(stamps)
        span_hours = max((stamps.max() - stamps.min()) / 3600.0, 1.0)
        counts = np.bincount(hour_of_week, minlength=WEEK_HOURS).astype(float)
        # Smoothed toward flat, so an hour never seen in training is unlikely rather than impossible.
        smoothed = counts + max(1.0, counts.sum() / WEEK_HOURS * 0.05)
        self.profile_ = smoothed / smoothed.mean()
        # A key's rate is shrunk toward a small prior so one ticket does not make a rare key look busy.
        prior = 1.0 / max(span_hours, self.prior_hours)
        rates: dict[str, float] = {}
        for key, count in pd.Series(labels).dropna().value_counts().items():
            rates[str(key)] = (count + prior * self.prior_hours) / (span_hours + self.prior_hours)
        self.rates_ = rates
        self.default_rate_ = prior
        self.span_hours_ = span_hours
        return self

    def expected(self, key: str | None, start: float, end: float) -> float:
        """Expected arrivals of a key in [start, end) (epoch seconds)."""
        check_is_fitted(self, "rates_")
        rate = self.rates_.get(str(key), self.default_rate_)
        hours = np.arange(math.floor(start / 3600.0), math.ceil(end / 3600.0))
        if len(hours) == 0:
            return 0.0
        overlap = np.minimum(hours + 1, end / 3600.0) - np.maximum(hours, start / 3600.0)
        return float(rate * np.sum(np.clip(overlap, 0.0, 1.0) * self.profile_[_hour_of_week(hours * 3600.0)]))

    def score(self, key: str | None, end: float, count: int) -> dict[str, float | bool]:
        """How unusual `count` arrivals of a key in the window ending at `end` are."""
        start = end - self.window_hours * 3600.0
        expected = self.expected(key, start, end)
        p_value = float(poisson.sf(count - 1, max(expected, 1e-9))) if count > 0 else 1.0
        return {
            "expected": expected,
            "observed": int(count),
            "p_value": p_value,
            "anomaly": bool(count >= self.min_count and p_value < self.alpha),
        }

    def registry_metadata(self) -> dict[str, Any]:
        """What the registry records about this model."""
        return {"target": "volume_anomaly", "keys": len(self.rates_), "span_hours": self.span_hours_}


def _hour_of_week(stamps: np.ndarray) -> np.ndarray:
    hours = np.floor(np.asarray(stamps, dtype=float) / 3600.0).astype(np.int64)
    # The epoch began on a Thursday: shift so Monday 00:00 is hour 0.
    return (hours + 72) % WEEK_HOURS
