"""The model cache: follows promotions and rollbacks, reloads changed files, says why a model is unusable."""

from __future__ import annotations

import threading

import pytest
from sklearn.linear_model import LogisticRegression

from itsm_ai.registry import store
from itsm_ai.registry.cache import ModelCache, ModelUnavailable


@pytest.fixture
def model():
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_follows_promotion_and_rollback(model, tmp_path):
    cache = ModelCache()
    with pytest.raises(ModelUnavailable, match="no m model has been trained and promoted yet"):
        cache.get("m", folder=tmp_path)
    v1 = store.save(model, name="m", models_dir=tmp_path, promote=True)
    first = cache.get("m", folder=tmp_path)
    assert first.version == v1 and cache.get("m", folder=tmp_path) is first  # loaded once
    v2 = store.save(model, name="m", models_dir=tmp_path, promote=True)
    assert cache.get("m", folder=tmp_path).version == v2
    store.rollback("m", models_dir=tmp_path)
    assert cache.get("m", folder=tmp_path) is first
    assert cache.get("m", v2, folder=tmp_path).metadata["version"] == v2


def test_unusable_models_say_why(model, tmp_path):
    def only_svms(name, version, loaded):
        return None if hasattr(loaded, "support_vectors_") else f"{name} {version} is not an SVM"

    cache = ModelCache(validate=only_svms)
    version = store.save(model, name="m", models_dir=tmp_path, promote=True)
    with pytest.raises(ModelUnavailable, match="m v0001 is not an SVM") as refused:
        cache.get("m", folder=tmp_path)
    assert refused.value.version == version
    with pytest.raises(ModelUnavailable, match="invalid model name"):
        cache.get("../m", folder=tmp_path)
    model_file = store.model_file("m", version, models_dir=tmp_path)
    model_file.unlink()
    with pytest.raises(ModelUnavailable, match="model file of m v0001 is missing"):
        cache.get("m", folder=tmp_path)
    model_file.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="corrupt model file"):
        ModelCache().get("m", folder=tmp_path)


def test_concurrent_lookups_load_once(model, tmp_path, monkeypatch):
    store.save(model, name="m", models_dir=tmp_path, promote=True)
    loads = []
    real_load = store.load

    def counting_load(*args, **kwargs):
        loads.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(store, "load", counting_load)
    cache = ModelCache()
    found = []

    def lookup():
        found.append(cache.get("m", folder=tmp_path))

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(f) for f in found}) == 1
