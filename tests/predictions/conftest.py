"""Synthetic snapshots with a known signal, and small models trained on them in a throw-away registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itsm_ai.predictions.features import FEATURES

# The API tests' app (no background worker), client (a 500 comes back as a response) and factory; `users` is
# the root one, since the page tests sign in with a password.
from tests.api.conftest import app, client, make  # noqa: F401

GROUPS = ("Network", "Desktop", "Database")


def synthetic_snapshots(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Snapshots in time order where the Network group and priority 2 breach, and Network takes longer."""
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS, n)
    priority = rng.choice([2, 3, 4], n, p=[0.2, 0.6, 0.2])
    logit = -1.5 + 2.5 * (group == "Network") + 1.0 * (priority == 2)
    breached = rng.random(n) < 1 / (1 + np.exp(-logit))
    hours = np.exp(1.0 + 1.5 * (group == "Network") + rng.normal(0, 0.3, n))
    rows = pd.DataFrame(dict.fromkeys(FEATURES), index=range(n))
    rows["group"] = group
    rows["priority"] = priority.astype(str)
    rows["category"] = rng.choice(["network", "hardware", "software"], n)
    rows["state"] = "new"
    for name in FEATURES:
        if rows[name].isna().all() and name not in (
            "symptom",
            "ci",
            "contact_type",
            "location",
            "subcategory",
        ):
            rows[name] = rng.integers(0, 5, n).astype(float)
    rows["impact"] = "2"
    rows["urgency"] = "2"
    rows["at"] = 1.46e9 + np.arange(n) * 3600.0
    rows["breached"] = breached
    rows["hours_to_resolve"] = hours
    return rows


@pytest.fixture
def snapshots() -> pd.DataFrame:
    return synthetic_snapshots()


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    """An empty registry the served models come from (nothing promoted)."""
    from itsm_ai.config import get_settings
    from itsm_ai.predictions.service import MODELS

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(get_settings(), "models_dir", folder)
    MODELS.clear()
    yield folder
    MODELS.clear()


@pytest.fixture
def trained(models_dir):
    """Breach, time-to-resolve and volume models trained on synthetic data, saved and promoted."""
    from itsm_ai.predictions.enums import ModelName
    from itsm_ai.predictions.estimators import BreachRiskClassifier, SeasonalRateModel, TimeToResolveRegressor
    from itsm_ai.registry import store

    rows = synthetic_snapshots()
    breach = BreachRiskClassifier(max_iter=30, min_samples_leaf=10, min_frequency=1).fit(
        rows, rows["breached"]
    )
    ttr = TimeToResolveRegressor(max_iter=30, min_samples_leaf=10, min_frequency=1).fit(
        rows, rows["hours_to_resolve"]
    )
    # About one "network" ticket a day: five within the hour is a burst.
    times = 1.46e9 + np.arange(60) * 86400.0
    volume = SeasonalRateModel(min_count=5).fit(times, ["network"] * 60)
    for name, model in ((ModelName.breach, breach), (ModelName.ttr, ttr), (ModelName.volume, volume)):
        store.save(model, name=str(name), models_dir=models_dir, promote=True)
    return models_dir
