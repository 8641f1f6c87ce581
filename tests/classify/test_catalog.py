"""The registry as the models API shows it: versions, CURRENT, and a challenger run in shadow."""

from __future__ import annotations

import pytest

from itsm_ai.classify import catalog, registry, service
from itsm_ai.classify.shadow import shadow_predictions


def test_challenger_is_kept_beside_current(trained):
    loaded = service.CACHE.get("category", folder=trained)
    version = registry.save(loaded.model, name="category", models_dir=trained)
    catalog.set_challenger("category", version, folder=trained)
    assert catalog.get_challenger("category", folder=trained) == version
    shadow = shadow_predictions("printer toner empty")
    assert shadow["category"]["version"] == version
    catalog.set_challenger("category", None, folder=trained)
    assert shadow_predictions("printer toner empty") == {}
    with pytest.raises(registry.RegistryError):
        catalog.set_challenger("category", "v0099", folder=trained)


def test_model_listing_summarises_versions(trained):
    [model] = catalog.list_models(folder=trained)
    assert model["name"] == "category" and model["current"] == "v0001"
    [version] = model["versions"]
    assert version["current"] and version["features"] == "tfidf"
    assert version["holdout"]["macro_f1"] is not None
