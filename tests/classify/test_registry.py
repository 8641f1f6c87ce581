"""File-based model registry: versions, atomic promotion, rollback, safety checks."""

import json
import os

import pytest
from sklearn.linear_model import LogisticRegression

from itsm_ai.classify import registry
from itsm_ai.classify.registry import ModelVersionWarning, RegistryError


@pytest.fixture
def model():
    return LogisticRegression(C=2.0).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_save_creates_new_versions_with_metadata(model, tmp_path):
    snapshot = registry.data_snapshot(["a", "b"], ["x", "y"])
    v1 = registry.save(
        model, name="triage", metadata={"data": snapshot, "metrics": {"f1": 0.9}}, models_dir=tmp_path
    )
    v2 = registry.save(model, name="triage", models_dir=tmp_path)
    assert (v1, v2) == ("v0001", "v0002")
    assert registry.list_versions("triage", models_dir=tmp_path) == ["v0001", "v0002"]
    meta = json.loads((tmp_path / "triage" / "v0001" / "metadata.json").read_text())
    assert meta["data"] == snapshot and snapshot["size"] == 2 and len(snapshot["sha256"]) == 64
    assert meta["params"]["C"] == 2.0 and meta["classes"] == [0, 1] and meta["metrics"] == {"f1": 0.9}
    for lib in ("python", "scikit-learn", "numpy", "sentence-transformers", "torch"):
        assert lib in meta["libraries"]
    assert meta["created_at"] and meta["version"] == "v0001"
    assert not [p for p in (tmp_path / "triage").iterdir() if p.name.startswith(".tmp")]


def test_an_existing_version_is_never_overwritten(model, tmp_path):
    registry.save(model, name="triage", models_dir=tmp_path)
    before = (tmp_path / "triage" / "v0001" / "model.joblib").read_bytes()
    (tmp_path / "triage" / "v0002").mkdir()
    (tmp_path / "triage" / "v0002" / "keep.txt").write_text("someone else's")
    assert (
        registry.save(LogisticRegression().fit([[0], [1]], [0, 1]), name="triage", models_dir=tmp_path)
        == "v0003"
    )
    assert (tmp_path / "triage" / "v0001" / "model.joblib").read_bytes() == before
    assert (tmp_path / "triage" / "v0002" / "keep.txt").read_text() == "someone else's"


def test_paths_outside_the_models_folder_are_refused(model, tmp_path):
    for name in ("../evil", "a/b", "..", "", "/abs", "x" * 80):
        with pytest.raises(RegistryError):
            registry.save(model, name=name, models_dir=tmp_path)
    registry.save(model, name="triage", models_dir=tmp_path)
    for version in ("../v0001", "v0001/../../x", "latest", "1"):
        with pytest.raises(RegistryError):
            registry.load("triage", version, models_dir=tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "linked")
    with pytest.raises(RegistryError, match="outside"):
        registry.list_versions("linked", models_dir=tmp_path)


def test_promote_load_and_rollback(model, tmp_path):
    with pytest.raises(RegistryError, match="CURRENT"):
        registry.load("triage", models_dir=tmp_path)
    v1 = registry.save(model, name="triage", models_dir=tmp_path, promote=True)
    v2 = registry.save(LogisticRegression(C=5.0).fit([[0], [1]], [0, 1]), name="triage", models_dir=tmp_path)
    assert registry.current_version("triage", models_dir=tmp_path) == v1
    registry.promote("triage", v2, models_dir=tmp_path)
    assert registry.current_version("triage", models_dir=tmp_path) == v2
    assert registry.load("triage", models_dir=tmp_path).C == 5.0
    assert registry.load("triage", v1, models_dir=tmp_path).C == 2.0
    assert registry.rollback("triage", models_dir=tmp_path) == v1
    assert registry.current_version("triage", models_dir=tmp_path) == v1
    with pytest.raises(RegistryError, match="previously promoted"):
        registry.rollback("triage", models_dir=tmp_path)
    with pytest.raises(RegistryError, match="no version"):
        registry.promote("triage", "v0009", models_dir=tmp_path)
    assert registry.read_metadata("triage", models_dir=tmp_path)["version"] == v1


def test_missing_and_corrupt_files_raise_clear_errors(model, tmp_path):
    v1 = registry.save(model, name="triage", models_dir=tmp_path)
    folder = tmp_path / "triage" / v1
    data = (folder / "model.joblib").read_bytes()
    (folder / "model.joblib").write_bytes(data[: len(data) // 2])
    with pytest.raises(RegistryError, match="corrupt model file"):
        registry.load("triage", v1, models_dir=tmp_path)
    (folder / "model.joblib").unlink()
    with pytest.raises(RegistryError, match="missing model file"):
        registry.load("triage", v1, models_dir=tmp_path)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(RegistryError, match="corrupt metadata"):
        registry.load("triage", v1, models_dir=tmp_path)
    with pytest.raises(RegistryError, match="no version"):
        registry.load("triage", "v0042", models_dir=tmp_path)


def test_library_version_mismatch_warns(model, tmp_path):
    v1 = registry.save(model, name="triage", models_dir=tmp_path)
    path = tmp_path / "triage" / v1 / "metadata.json"
    meta = json.loads(path.read_text())
    meta["libraries"]["scikit-learn"] = "0.1.0"
    path.write_text(json.dumps(meta))
    with pytest.warns(ModelVersionWarning, match="scikit-learn 0.1.0"):
        loaded = registry.load("triage", v1, models_dir=tmp_path)
    assert loaded.C == 2.0


def test_default_models_dir_comes_from_settings(model, tmp_path, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setenv("ITSM_MODELS_DIR", str(tmp_path / "m"))
    get_settings.cache_clear()
    try:
        assert registry.save(model, name="triage") == "v0001"
        assert (tmp_path / "m" / "triage" / "v0001" / "model.joblib").is_file()
    finally:
        get_settings.cache_clear()


def test_a_triage_model_round_trips_with_its_thresholds(topics, tmp_path):
    from itsm_ai.classify.estimator import TriageClassifier

    texts, labels = topics
    model = TriageClassifier("tfidf", char_ngram_range=None, random_state=0).fit(texts, labels)
    data = registry.data_snapshot(texts, labels)
    version = registry.save(
        model, name="category", metadata={"data": data}, models_dir=tmp_path, promote=True
    )
    meta = registry.read_metadata("category", models_dir=tmp_path)
    assert meta["thresholds"] == {str(k): v for k, v in model.thresholds_.items()}
    assert meta["classes"] == list(model.classes_) and meta["params"]["features"] == "tfidf"
    assert meta["data"]["size"] == len(texts) and meta["version"] == version
    again = registry.load("category", models_dir=tmp_path)
    assert again.predict_with_evidence(texts[:2]) == model.predict_with_evidence(texts[:2])
