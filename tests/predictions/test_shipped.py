"""The prediction models shipped in models/: present, promoted, documented, and usable without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from itsm_ai.predictions.enums import ModelName
from itsm_ai.predictions.estimators import BreachRiskClassifier, SeasonalRateModel, TimeToResolveRegressor
from itsm_ai.predictions.features import FEATURES, frame
from itsm_ai.registry import store
from tests.predictions.conftest import synthetic_snapshots

SHIPPED = Path(__file__).resolve().parents[2] / "models"
KINDS = {
    ModelName.breach: BreachRiskClassifier,
    ModelName.ttr: TimeToResolveRegressor,
    ModelName.volume: SeasonalRateModel,
}
# Kept small: a clone carries every shipped version.
MAX_BYTES = 6_000_000


@pytest.mark.parametrize("name", list(KINDS))
def test_shipped_model_is_promoted_small_and_documented(name):
    version = store.current_version(str(name), models_dir=SHIPPED)
    assert version is not None, f"no CURRENT for {name} in models/"
    path = store.model_file(str(name), version, models_dir=SHIPPED)
    assert path.stat().st_size < MAX_BYTES
    meta = store.read_metadata(str(name), version, models_dir=SHIPPED)
    assert len(meta["data"]["sha256"]) == 64 and meta["data"]["incidents"] > 20_000
    assert meta["libraries"]["scikit-learn"] and meta["params"]
    assert isinstance(store.load(str(name), version, models_dir=SHIPPED), KINDS[name])
    if name != ModelName.volume:
        evaluation = meta["evaluation"]
        assert evaluation["half_life_days"] is None or evaluation["half_life_days"] > 0
        if name == ModelName.breach:
            assert evaluation["auc"] > evaluation["baseline_auc"]
        else:
            assert evaluation["mae_hours"] < evaluation["baseline_mae_hours"]


def test_shipped_models_predict_a_snapshot():
    rows = frame(synthetic_snapshots(20)[list(FEATURES)])
    breach = store.load(str(ModelName.breach), models_dir=SHIPPED)
    risk = breach.predict_proba(rows)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()
    ttr = store.load(str(ModelName.ttr), models_dir=SHIPPED)
    low, mid, high = ttr.predict_quantiles(rows).T
    assert ((low <= mid) & (mid <= high) & (low >= 0)).all()
