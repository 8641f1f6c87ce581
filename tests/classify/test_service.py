"""Serving core: model cache (promotion/rollback without restart, missing/corrupt files), free-text
suggestions in the contract shape, CSV input errors naming line and column, training metadata."""

from __future__ import annotations

import pytest

from itsm_ai.classify import registry, service

CONTRACT_KEYS = {
    "status",
    "value",
    "confidence",
    "threshold",
    "model",
    "version",
    "alternatives",
    "evidence",
    "reason",
    "feedback",
}


def test_training_records_an_evaluation_report_and_the_data_snapshot(trained):
    meta = registry.read_metadata("category", models_dir=trained)
    assert meta["target"] == "category" and meta["version"] == "v0001"
    assert meta["data"]["size"] == 400 and len(meta["data"]["sha256"]) == 64
    report = meta["evaluation"]
    assert report["n"] == 80
    for key in ("accuracy", "macro_f1", "top3_accuracy", "coverage", "brier", "per_class", "confusion"):
        assert key in report
    assert report["accuracy"] > 0.45 and report["top3_accuracy"] > 0.7
    # Rare topics (under 30 tickets) are never predicted.
    assert set(meta["excluded_classes"]) == {"Administrative rights", "Internal Project"}


def test_suggestions_for_free_text_follow_the_contract(trained):
    fields = service.suggest_for_text(db_session=None, text="new laptop keyboard and monitor broken hardware")
    assert set(fields) == {"category", "priority", "assignment_group"}
    category = fields["category"]
    assert set(category) == CONTRACT_KEYS
    assert category["status"] in ("suggested", "abstained")
    assert category["model"] == "category" and category["version"] == "v0001"
    assert len(category["alternatives"]) == 3
    assert category["alternatives"][0]["value"] == "Hardware"
    assert {"number", "short_description", "label", "similarity"} <= set(category["evidence"][0])
    # No model was trained for the other targets: they say so.
    assert fields["priority"]["status"] == "unavailable"
    assert "no priority model" in fields["priority"]["reason"]


def test_mode_off_skips_the_model(trained, triage_settings):
    triage_settings(triage_modes={"category": "off"})
    fields = service.suggest_fields("printer broken")
    assert fields["category"]["status"] == "off" and fields["category"]["value"] is None


def test_missing_and_corrupt_model_files_make_the_field_unavailable(trained):
    model_file = trained / "category" / "v0001" / registry.MODEL_FILE
    data = model_file.read_bytes()
    model_file.write_bytes(data[:1000])
    entry = service.suggest_field("category", "printer broken", folder=trained)
    assert entry["status"] == "unavailable" and "corrupt" in entry["reason"]
    model_file.unlink()
    entry = service.suggest_field("category", "printer broken", folder=trained)
    assert entry["status"] == "unavailable" and "missing" in entry["reason"]
    model_file.write_bytes(data)  # repaired: served again without a restart
    assert service.suggest_field("category", "printer broken", folder=trained)["status"] != "unavailable"


def test_promotion_and_rollback_are_served_without_restart(trained):
    first = service.CACHE.get("category", folder=trained)
    assert first.version == "v0001"
    version = registry.save(first.model, name="category", models_dir=trained, metadata={"target": "category"})
    assert service.CACHE.get("category", folder=trained).version == "v0001"  # saved, not promoted
    registry.promote("category", version, models_dir=trained)
    assert service.CACHE.get("category", folder=trained).version == version
    assert service.suggest_field("category", "printer", folder=trained)["version"] == version
    registry.rollback("category", models_dir=trained)
    assert service.CACHE.get("category", folder=trained).version == "v0001"


def test_challenger_is_kept_beside_current(trained):
    loaded = service.CACHE.get("category", folder=trained)
    version = registry.save(loaded.model, name="category", models_dir=trained)
    service.set_challenger("category", version, folder=trained)
    assert service.get_challenger("category", folder=trained) == version
    shadow = service.shadow_predictions("printer toner empty")
    assert shadow["category"]["version"] == version
    service.set_challenger("category", None, folder=trained)
    assert service.shadow_predictions("printer toner empty") == {}
    with pytest.raises(registry.RegistryError):
        service.set_challenger("category", "v0099", folder=trained)


def test_model_listing_summarises_versions(trained):
    [model] = service.list_models(folder=trained)
    assert model["name"] == "category" and model["current"] == "v0001"
    [version] = model["versions"]
    assert version["current"] and version["features"] == "tfidf"
    assert version["holdout"]["macro_f1"] is not None


def test_csv_errors_name_the_line_and_column(tmp_path, demo_csv):
    with pytest.raises(service.DataError) as err:
        service.csv_training_data(demo_csv, text_cols=["Text"], label_col="Topic_group")
    assert err.value.column == "Text" and "no column 'Text'" in str(err.value)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nprinter broken,Hardware\nvpn down,Access,extra\n", encoding="utf-8")
    with pytest.raises(service.DataError) as err:
        service.csv_training_data(bad, text_cols=["text"], label_col="label")
    assert err.value.line == 3 and "line 3" in str(err.value)
    bad.write_text("text,label\nprinter broken,high\n", encoding="utf-8")
    with pytest.raises(service.DataError) as err:
        service.csv_training_data(bad, text_cols=["text"], label_col="label", target="priority")
    assert err.value.line == 2 and err.value.column == "label"
    bad.write_bytes(b"text,label\nok,a\n\xff\xfe broken,b\n")
    with pytest.raises(service.DataError) as err:
        service.csv_training_data(bad, text_cols=["text"], label_col="label")
    assert err.value.line == 3


def test_several_text_columns_are_joined_like_a_ticket(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("short,long,label\nVPN down,cannot reach intranet,Access\n", encoding="utf-8")
    data = service.csv_training_data(path, text_cols=["short", "long"], label_col="label")
    assert data.texts == [service.ticket_text("VPN down", "cannot reach intranet")]
    assert data.texts == ["VPN down . cannot reach intranet"]


def test_training_refuses_data_without_two_trainable_classes(models_dir, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "printer broken,Hardware\n" * 40 + "vpn,Access\n", encoding="utf-8")
    data = service.csv_training_data(path, text_cols=["text"], label_col="label")
    with pytest.raises(service.DataError, match="need at least 2 values"):
        service.train_model(data, target="category", features="tfidf", folder=models_dir)


@pytest.mark.slow
def test_embedding_pipeline_is_served_with_evidence(models_dir, demo_csv):
    """The one test with the real sentence model: train on embeddings + TF-IDF and serve a suggestion."""
    data = service.csv_training_data(demo_csv, text_cols=["Document"], label_col="Topic_group")
    result = service.train_model(data, target="category", features="both", holdout=0.0, promote=True)
    assert result.metadata["params"]["features"] == "both" and result.metadata["evaluation"] is None
    entry = service.suggest_field(
        "category", "my laptop screen is broken, please replace it", folder=models_dir
    )
    assert entry["status"] in ("suggested", "abstained") and entry["version"] == "v0001"
    assert entry["alternatives"][0]["value"] == "Hardware"
    assert entry["evidence"] and -1.0 <= entry["evidence"][0]["similarity"] <= 1.0
