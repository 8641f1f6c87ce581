"""`itsm-ai serve --demo` triage models: trained on the bundled tickets once, kept while the data holds."""

from __future__ import annotations

from itsm_ai.demo.triage_models import demo_training_data, ensure_demo_models
from itsm_ai.registry import store


def test_demo_models_are_trained_once_per_data_version(db, models_dir):
    said = []
    assert ensure_demo_models(targets=("category",), progress=said.append) == {"category": "trained v0001"}
    assert said and store.current_version("category", models_dir=models_dir) == "v0001"
    assert ensure_demo_models(targets=("category",)) == {"category": "kept v0001"}


def test_demo_routing_labels_are_the_demo_groups(db):
    from itsm_ai.demo.load import GROUPS

    data = demo_training_data("assignment_group")
    assert set(data.labels) <= {name for name, _ in GROUPS}
    assert data.labelled() == 400
