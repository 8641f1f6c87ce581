"""Training the prediction models from a ServiceNow event log and saving them in the model registry.

The models serve a ticket at any point of its life, so they learn from the snapshots of every prediction
point pooled (in time order). Before the final fit, the same recipe is scored on a time-ordered 80/20 split
(`evaluation.evaluate_point`); those held-out figures and the chosen recency half-life go into the metadata.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from itsm_ai.predictions.enums import ModelName
from itsm_ai.predictions.estimators import (
    BreachRiskClassifier,
    SeasonalRateModel,
    TimeToResolveRegressor,
    recency_weights,
)
from itsm_ai.predictions.evaluation import evaluate_point, read_event_log, split_time
from itsm_ai.predictions.features import POINTS, event_log_snapshots
from itsm_ai.registry import store


def _snapshot_hash(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"file": path.name, "sha256": digest.hexdigest()}


def pooled_snapshots(df: pd.DataFrame) -> pd.DataFrame:
    """The snapshots of every prediction point, in prediction-time order."""
    parts = [event_log_snapshots(df, point).assign(point=point) for point in POINTS]
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["at", "number"], kind="stable")
        .reset_index(drop=True)
    )


def train_from_event_log(
    path: str | Path,
    *,
    promote: bool = False,
    models_dir: str | Path | None = None,
    nrows: int | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Evaluate, fit and save the breach, time-to-resolve and volume models; returns {name: version}."""
    path = Path(path)
    params = params or {}
    df = read_event_log(path, nrows=nrows)
    cut = split_time(df)
    result, _, _ = evaluate_point(df, "open", cut=cut, params=params, tune=nrows is None)
    rows = pooled_snapshots(df)
    data = {**_snapshot_hash(path), "incidents": int(df["number"].nunique()), "snapshots": len(rows)}
    versions = {}

    breach_half_life = result.breach["half_life_days"]
    breach = BreachRiskClassifier(**params.get("breach", {})).fit(
        rows, rows["breached"], sample_weight=recency_weights(rows["at"], breach_half_life)
    )
    versions[str(ModelName.breach)] = store.save(
        breach,
        name=str(ModelName.breach),
        metadata={"data": data, "evaluation": result.breach, "half_life_days": breach_half_life},
        models_dir=models_dir,
        promote=promote,
    )

    resolved = rows[rows["hours_to_resolve"].notna()]
    ttr_half_life = result.ttr["half_life_days"]
    ttr = TimeToResolveRegressor(**params.get("ttr", {})).fit(
        resolved, resolved["hours_to_resolve"], sample_weight=recency_weights(resolved["at"], ttr_half_life)
    )
    versions[str(ModelName.ttr)] = store.save(
        ttr,
        name=str(ModelName.ttr),
        metadata={"data": data, "evaluation": result.ttr, "half_life_days": ttr_half_life},
        models_dir=models_dir,
        promote=promote,
    )

    first = df.groupby("number").head(1).set_index("number")
    first = first[first["opened_at"].notna()]
    # One model for both dimensions: category and CI names never collide ("Category 55", "cmdb_ci 12").
    keys = pd.concat([first["category"], first["ci"]], ignore_index=True)
    times = pd.concat([first["opened_at"], first["opened_at"]], ignore_index=True)
    volume = SeasonalRateModel().fit(times.to_numpy(float), keys.to_numpy(object))
    versions[str(ModelName.volume)] = store.save(
        volume, name=str(ModelName.volume), metadata={"data": data}, models_dir=models_dir, promote=promote
    )
    return versions
