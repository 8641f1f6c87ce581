"""Training data from a CSV (errors naming the line and column) and training a version with its
evaluation report and data snapshot."""

from __future__ import annotations

import pytest

from itsm_ai.classify.estimators.text import ticket_text
from itsm_ai.classify.training.data import DataError, csv_training_data
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.config import get_settings
from itsm_ai.registry import store


def test_training_records_an_evaluation_report_and_the_data_snapshot(trained):
    meta = store.read_metadata("category", models_dir=trained)
    assert meta["target"] == "category" and meta["version"] == "v0001"
    assert meta["data"]["size"] == 400 and len(meta["data"]["sha256"]) == 64
    report = meta["evaluation"]
    assert report["n"] == 80
    for key in ("accuracy", "macro_f1", "top3_accuracy", "coverage", "brier", "per_class", "confusion"):
        assert key in report
    assert report["accuracy"] > 0.45 and report["top3_accuracy"] > 0.7
    # Topics under the minimum class size (triage_min_class_count) are never predicted.
    minimum = get_settings().triage_min_class_count
    rare = {c for c, n in meta["label_counts"].items() if n < minimum}
    assert set(meta["excluded_classes"]) == rare
    assert set(meta["classes"]) == set(meta["label_counts"]) - rare


def test_csv_errors_name_the_line_and_column(tmp_path, demo_csv):
    with pytest.raises(DataError) as err:
        csv_training_data(demo_csv, text_cols=["Text"], label_col="Topic_group")
    assert err.value.column == "Text" and "no column 'Text'" in str(err.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nprinter broken,Hardware\nvpn down,Access,extra\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        csv_training_data(bad, text_cols=["text"], label_col="label")
    assert err.value.line == 3 and "line 3" in str(err.value)
    bad.write_text("text,label\nprinter broken,high\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        csv_training_data(bad, text_cols=["text"], label_col="label", target="priority")
    assert err.value.line == 2 and err.value.column == "label"
    bad.write_bytes(b"text,label\nok,a\n\xff\xfe broken,b\n")
    with pytest.raises(DataError) as err:
        csv_training_data(bad, text_cols=["text"], label_col="label")
    assert err.value.line == 3


def test_several_text_columns_are_joined_like_a_ticket(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("short,long,label\nVPN down,cannot reach intranet,Access\n", encoding="utf-8")
    data = csv_training_data(path, text_cols=["short", "long"], label_col="label")
    assert data.texts == [ticket_text("VPN down", "cannot reach intranet")]
    assert data.texts == ["VPN down . cannot reach intranet"]


def test_training_refuses_data_without_two_trainable_classes(models_dir, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "printer broken,Hardware\n" * 40 + "vpn,Access\n", encoding="utf-8")
    data = csv_training_data(path, text_cols=["text"], label_col="label")
    with pytest.raises(DataError, match="need at least 2 values"):
        train_model(data, target="category", features="tfidf", folder=models_dir)
