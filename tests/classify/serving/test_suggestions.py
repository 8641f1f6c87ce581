"""Serving core: model cache (promotion/rollback without restart, missing/corrupt files), free-text
suggestions in the contract shape, and the names other modules still import from `service`."""

from __future__ import annotations

import contextlib

import pytest

from itsm_ai.classify.serving import suggestions
from itsm_ai.classify.training.data import csv_training_data
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.registry import store

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


def test_suggestions_for_free_text_follow_the_contract(trained):
    text = "new laptop keyboard and monitor broken hardware"
    fields = suggestions.suggest_for_text(db_session=None, text=text)
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
    fields = suggestions.suggest_fields("printer broken")
    assert fields["category"]["status"] == "off" and fields["category"]["value"] is None


def test_missing_and_corrupt_model_files_make_the_field_unavailable(trained):
    model_file = trained / "category" / "v0001" / store.MODEL_FILE
    data = model_file.read_bytes()
    model_file.write_bytes(data[:1000])
    entry = suggestions.suggest_field("category", "printer broken", folder=trained)
    assert entry["status"] == "unavailable" and "corrupt" in entry["reason"]
    model_file.unlink()
    entry = suggestions.suggest_field("category", "printer broken", folder=trained)
    assert entry["status"] == "unavailable" and "missing" in entry["reason"]
    model_file.write_bytes(data)  # repaired: served again without a restart
    assert suggestions.suggest_field("category", "printer broken", folder=trained)["status"] != "unavailable"


def test_promotion_and_rollback_are_served_without_restart(trained):
    first = suggestions.CACHE.get("category", folder=trained)
    assert first.version == "v0001"
    version = store.save(first.model, name="category", models_dir=trained, metadata={"target": "category"})
    assert suggestions.CACHE.get("category", folder=trained).version == "v0001"  # saved, not promoted
    store.promote("category", version, models_dir=trained)
    assert suggestions.CACHE.get("category", folder=trained).version == version
    assert suggestions.suggest_field("category", "printer", folder=trained)["version"] == version
    store.rollback("category", models_dir=trained)
    assert suggestions.CACHE.get("category", folder=trained).version == "v0001"


@pytest.mark.slow
def test_embedding_pipeline_is_served_with_evidence(models_dir, demo_csv):
    """The one test with the real sentence model: train on embeddings + TF-IDF and serve a suggestion."""
    data = csv_training_data(demo_csv, text_cols=["Document"], label_col="Topic_group")
    result = train_model(data, target="category", features="both", holdout=0.0, promote=True)
    assert result.metadata["params"]["features"] == "both" and result.metadata["evaluation"] is None
    entry = suggestions.suggest_field(
        "category", "my laptop screen is broken, please replace it", folder=models_dir
    )
    assert entry["status"] in ("suggested", "abstained") and entry["version"] == "v0001"
    assert entry["alternatives"][0]["value"] == "Hardware"
    assert entry["evidence"] and -1.0 <= entry["evidence"][0]["similarity"] <= 1.0


LIMITER = suggestions._one_blas_thread


def _blas_threads() -> list[int]:
    """Threads of the BLAS libraries the limiter knows (those loaded when it was first used)."""
    controller = LIMITER._controller
    return [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]


def test_one_ticket_predictions_run_blas_on_one_thread_and_restore_it(trained, monkeypatch):
    loaded = suggestions.CACHE.get("category", folder=trained)
    suggestions.predict_entry(loaded, "warm up: builds the limiter")
    before = _blas_threads()
    seen = []
    predict = loaded.model.predict_with_evidence

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return predict(*args, **kwargs)

    monkeypatch.setattr(loaded.model, "predict_with_evidence", spy)
    text = "new laptop keyboard and monitor broken hardware"
    with suggestions._one_blas_thread:  # nested and repeated uses share one limit
        limited = suggestions.predict_entry(loaded, text)
    assert seen and all(n == 1 for threads in seen for n in threads)
    assert _blas_threads() == before
    monkeypatch.setattr(suggestions, "_one_blas_thread", contextlib.nullcontext())
    assert suggestions.predict_entry(loaded, text) == limited  # the same suggestion with any thread count
