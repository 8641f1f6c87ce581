"""The registry as the models API shows it: versions, CURRENT, and a challenger run in shadow."""

from __future__ import annotations

import pytest

from itsm_ai.classify import model_catalog
from itsm_ai.classify.serving import suggestions
from itsm_ai.classify.serving.shadow import shadow_predictions
from itsm_ai.registry import store


def test_challenger_is_kept_beside_current(trained):
    loaded = suggestions.CACHE.get("category", folder=trained)
    version = store.save(loaded.model, name="category", models_dir=trained)
    store.set_challenger("category", version, models_dir=trained)
    assert store.get_challenger("category", models_dir=trained) == version
    shadow = shadow_predictions("printer toner empty")
    assert shadow["category"]["version"] == version
    store.set_challenger("category", None, models_dir=trained)
    assert shadow_predictions("printer toner empty") == {}
    with pytest.raises(store.RegistryError):
        store.set_challenger("category", "v0099", models_dir=trained)


def test_model_listing_summarises_versions(trained):
    [model] = model_catalog.list_models(folder=trained)
    assert model["name"] == "category" and model["current"] == "v0001"
    [version] = model["versions"]
    assert version["current"] and version["features"] == "tfidf"
    assert version["holdout"]["macro_f1"] is not None
