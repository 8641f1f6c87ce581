"""File-based model registry: versions, atomic promotion, rollback, challenger, safety checks."""

import json
import os

import pytest
from sklearn.linear_model import LogisticRegression

from itsm_ai.registry import store
from itsm_ai.registry.store import ModelVersionWarning, RegistryError


@pytest.fixture
def model():
    return LogisticRegression(C=2.0).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_save_creates_new_versions_with_metadata(model, tmp_path):
    snapshot = store.data_snapshot(["a", "b"], ["x", "y"])
    v1 = store.save(
        model, name="triage", metadata={"data": snapshot, "metrics": {"f1": 0.9}}, models_dir=tmp_path
    )
    v2 = store.save(model, name="triage", models_dir=tmp_path)
    assert (v1, v2) == ("v0001", "v0002")
    assert store.list_versions("triage", models_dir=tmp_path) == ["v0001", "v0002"]
    meta = json.loads((tmp_path / "triage" / "v0001" / "metadata.json").read_text())
    assert meta["data"] == snapshot and snapshot["size"] == 2 and len(snapshot["sha256"]) == 64
    assert meta["params"]["C"] == 2.0 and meta["classes"] == [0, 1] and meta["metrics"] == {"f1": 0.9}
    for lib in ("python", "scikit-learn", "numpy", "sentence-transformers", "torch"):
        assert lib in meta["libraries"]
    assert meta["created_at"] and meta["version"] == "v0001"
    assert not [p for p in (tmp_path / "triage").iterdir() if p.name.startswith(".tmp")]


def test_an_existing_version_is_never_overwritten(model, tmp_path):
    store.save(model, name="triage", models_dir=tmp_path)
    before = (tmp_path / "triage" / "v0001" / "model.joblib").read_bytes()
    (tmp_path / "triage" / "v0002").mkdir()
    (tmp_path / "triage" / "v0002" / "keep.txt").write_text("someone else's")
    assert (
        store.save(LogisticRegression().fit([[0], [1]], [0, 1]), name="triage", models_dir=tmp_path)
        == "v0003"
    )
    assert (tmp_path / "triage" / "v0001" / "model.joblib").read_bytes() == before
    assert (tmp_path / "triage" / "v0002" / "keep.txt").read_text() == "someone else's"


def test_paths_outside_the_models_folder_are_refused(model, tmp_path):
    for name in ("../evil", "a/b", "..", "", "/abs", "x" * 80):
        with pytest.raises(RegistryError):
            store.save(model, name=name, models_dir=tmp_path)
    store.save(model, name="triage", models_dir=tmp_path)
    for version in ("../v0001", "v0001/../../x", "latest", "1"):
        with pytest.raises(RegistryError):
            store.load("triage", version, models_dir=tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "linked")
    with pytest.raises(RegistryError, match="outside"):
        store.list_versions("linked", models_dir=tmp_path)


def test_promote_load_and_rollback(model, tmp_path):
    with pytest.raises(RegistryError, match="CURRENT"):
        store.load("triage", models_dir=tmp_path)
    v1 = store.save(model, name="triage", models_dir=tmp_path, promote=True)
    v2 = store.save(LogisticRegression(C=5.0).fit([[0], [1]], [0, 1]), name="triage", models_dir=tmp_path)
    assert store.current_version("triage", models_dir=tmp_path) == v1
    store.promote("triage", v2, models_dir=tmp_path)
    assert store.current_version("triage", models_dir=tmp_path) == v2
    assert store.load("triage", models_dir=tmp_path).C == 5.0
    assert store.load("triage", v1, models_dir=tmp_path).C == 2.0
    assert store.rollback("triage", models_dir=tmp_path) == v1
    assert store.current_version("triage", models_dir=tmp_path) == v1
    with pytest.raises(RegistryError, match="previously promoted"):
        store.rollback("triage", models_dir=tmp_path)
    with pytest.raises(RegistryError, match="no version"):
        store.promote("triage", "v0009", models_dir=tmp_path)
    assert store.read_metadata("triage", models_dir=tmp_path)["version"] == v1


def test_missing_and_corrupt_files_raise_clear_errors(model, tmp_path):
    v1 = store.save(model, name="triage", models_dir=tmp_path)
    folder = tmp_path / "triage" / v1
    data = (folder / "model.joblib").read_bytes()
    (folder / "model.joblib").write_bytes(data[: len(data) // 2])
    with pytest.raises(RegistryError, match="corrupt model file"):
        store.load("triage", v1, models_dir=tmp_path)
    (folder / "model.joblib").unlink()
    with pytest.raises(RegistryError, match="missing model file"):
        store.load("triage", v1, models_dir=tmp_path)
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(RegistryError, match="corrupt metadata"):
        store.load("triage", v1, models_dir=tmp_path)
    with pytest.raises(RegistryError, match="no version"):
        store.load("triage", "v0042", models_dir=tmp_path)


def test_library_version_mismatch_warns(model, tmp_path):
    v1 = store.save(model, name="triage", models_dir=tmp_path)
    path = tmp_path / "triage" / v1 / "metadata.json"
    meta = json.loads(path.read_text())
    meta["libraries"]["scikit-learn"] = "0.1.0"
    path.write_text(json.dumps(meta))
    with pytest.warns(ModelVersionWarning, match="scikit-learn 0.1.0"):
        loaded = store.load("triage", v1, models_dir=tmp_path)
    assert loaded.C == 2.0


def test_default_models_dir_comes_from_settings(model, tmp_path, monkeypatch):
    from itsm_ai.config import get_settings

    monkeypatch.setenv("ITSM_MODELS_DIR", str(tmp_path / "m"))
    get_settings.cache_clear()
    try:
        assert store.save(model, name="triage") == "v0001"
        assert (tmp_path / "m" / "triage" / "v0001" / "model.joblib").is_file()
    finally:
        get_settings.cache_clear()


def test_challenger_and_model_names(model, tmp_path):
    assert store.model_names(models_dir=tmp_path) == []
    store.save(model, name="triage", models_dir=tmp_path, promote=True)
    v2 = store.save(model, name="triage", models_dir=tmp_path)
    (tmp_path / ".hidden").mkdir()
    assert store.model_names(models_dir=tmp_path) == ["triage"]
    assert store.get_challenger("triage", models_dir=tmp_path) is None
    assert store.set_challenger("triage", v2, models_dir=tmp_path) == v2
    assert store.get_challenger("triage", models_dir=tmp_path) == v2
    with pytest.raises(RegistryError, match="has no version"):
        store.set_challenger("triage", "v0099", models_dir=tmp_path)
    with pytest.raises(RegistryError, match="invalid version"):
        store.set_challenger("triage", "latest", models_dir=tmp_path)
    assert store.get_challenger("triage", models_dir=tmp_path) == v2  # a refused change keeps the old one
    store.set_challenger("triage", None, models_dir=tmp_path)
    assert store.get_challenger("triage", models_dir=tmp_path) is None


class Described(LogisticRegression):
    """A model that adds facts of its own to its metadata."""

    def registry_metadata(self):
        return {"thresholds": {"0": 0.5}, "name": "not allowed"}


def test_a_model_adds_its_own_metadata(tmp_path):
    model = Described().fit([[0.0], [1.0]], [0, 1])
    store.save(model, name="described", models_dir=tmp_path)
    meta = store.read_metadata("described", "v0001", models_dir=tmp_path)
    assert meta["thresholds"] == {"0": 0.5} and meta["classes"] == [0, 1]
    assert meta["name"] == "described"  # what the registry measured is not overridable


def test_a_version_holds_extra_files_written_before_it_appears(model, tmp_path):
    def weights(folder):
        (folder / "weights").mkdir()
        (folder / "weights" / "w.bin").write_bytes(b"\x00\x01")

    version = store.save(model, name="encoder", models_dir=tmp_path, extra_files=weights)
    assert (tmp_path / "encoder" / version / "weights" / "w.bin").read_bytes() == b"\x00\x01"

    def broken(folder):
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.save(model, name="encoder", models_dir=tmp_path, extra_files=broken)
    assert store.list_versions("encoder", models_dir=tmp_path) == [version]
    assert not [p for p in (tmp_path / "encoder").iterdir() if p.name.startswith(".tmp")]


def test_a_version_promoted_by_a_flow_refuses_a_plain_promote(model, tmp_path):
    version = store.save(model, name="encoder", models_dir=tmp_path, metadata={"promoted_by": "the flow"})
    with pytest.raises(RegistryError, match="promoted with the flow"):
        store.promote("encoder", version, models_dir=tmp_path)
    assert store.current_version("encoder", models_dir=tmp_path) is None
    store.promote("encoder", version, models_dir=tmp_path, managed=True)
    assert store.current_version("encoder", models_dir=tmp_path) == version


def test_rollback_to_none_removes_current_after_the_first_promotion(model, tmp_path):
    v1 = store.save(model, name="encoder", models_dir=tmp_path, promote=True)
    with pytest.raises(RegistryError):
        store.rollback("encoder", models_dir=tmp_path)
    assert store.rollback("encoder", models_dir=tmp_path, to_none=True) is None
    assert store.current_version("encoder", models_dir=tmp_path) is None
    with pytest.raises(RegistryError):
        store.rollback("encoder", models_dir=tmp_path, to_none=True)
    v2 = store.save(model, name="encoder", models_dir=tmp_path, promote=True)
    store.promote("encoder", v1, models_dir=tmp_path)
    assert store.rollback("encoder", models_dir=tmp_path, to_none=True) == v2
