"""A slice of the real ServiceNow log: snapshots hold no future, the models beat priority, training saves."""

from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

from itsm_ai.predictions.enums import ModelName
from itsm_ai.predictions.evaluation import evaluate_point, read_event_log, split_time
from itsm_ai.predictions.features import event_log_snapshots
from itsm_ai.registry import store

LOG = "servicenow_incident_event_log_full.csv.gz"
SMALL = {"breach": {"max_iter": 40}, "ttr": {"max_iter": 40}}


@pytest.fixture(scope="module")
def log(request):
    from tests.conftest import SHARED_DATA

    if not (SHARED_DATA / LOG).is_file():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return read_event_log(SHARED_DATA / LOG, nrows=25000)


def test_snapshots_know_only_the_past(log):
    first = log.groupby("number").head(1).set_index("number")
    at_open = event_log_snapshots(log, "open").set_index("number")
    assert (at_open["updates"] == 1).all()
    assert (at_open["reassignment_count"] == first.loc[at_open.index, "reassignment_count"]).all()
    assert (at_open["group"].fillna("") == first.loc[at_open.index, "group"].fillna("")).all()
    after_hour = event_log_snapshots(log, "1h")
    assert after_hour["elapsed_hours"].eq(1.0).all()
    assert after_hour["state"].isin(["new", "in_progress", "on_hold"]).all()
    assigned = event_log_snapshots(log, "assigned")
    assert assigned["assigned"].eq(1.0).all() and (assigned["elapsed_hours"] >= 0).all()
    # Fewer tickets are still open an hour in than at open.
    assert len(after_hour) < len(at_open)


def test_breach_risk_ranks_and_calibrates_later_incidents(log):
    result, model, _ = evaluate_point(log, "open", cut=split_time(log), params=SMALL, tune=False)
    assert result.n_test > 300
    assert result.breach["auc"] > 0.75
    assert result.breach["brier"] < result.breach["baseline_brier"]
    assert 0.0 <= result.ttr["interval_coverage"] <= 1.0


def test_training_saves_three_versions_with_their_evaluation(shared_data, tmp_path):
    from itsm_ai.predictions.training import train_from_event_log

    versions = train_from_event_log(
        shared_data / LOG, nrows=12000, models_dir=tmp_path, promote=True, params=SMALL
    )
    assert versions == {str(name): "v0001" for name in ModelName}
    meta = store.read_metadata(str(ModelName.breach), models_dir=tmp_path)
    assert meta["evaluation"]["auc"] > 0.5 and meta["data"]["file"] == LOG
    assert meta["target"] == "sla_breach"
    breach = store.load(str(ModelName.breach), models_dir=tmp_path)
    rows = event_log_snapshots(read_event_log(shared_data / LOG, nrows=3000), "open")
    risk = breach.predict_proba(rows)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()
    assert roc_auc_score(rows["breached"], risk) > 0.5
