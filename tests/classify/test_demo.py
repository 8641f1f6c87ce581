"""`itsm-ai serve --demo` triage models: trained on the demo's resolved tickets once, kept while the data
holds, labelled with the demo's readable categories and groups."""

from __future__ import annotations

from itsm_ai.demo.triage_models import demo_training_data, ensure_demo_models
from itsm_ai.registry import store


def test_demo_models_are_trained_once_per_data_version(db, models_dir):
    said = []
    trained = ensure_demo_models(targets=("category",), features="tfidf", progress=said.append)
    assert trained == {"category": "trained v0001"}
    assert said and store.current_version("category", models_dir=models_dir) == "v0001"
    assert ensure_demo_models(targets=("category",), features="tfidf") == {"category": "kept v0001"}


def test_demo_labels_are_the_demo_groups_and_readable_categories(db):
    from itsm_ai.demo.load import GROUPS

    groups = demo_training_data("assignment_group")
    assert set(groups.labels) <= {name for name, _ in GROUPS}
    assert groups.labelled() == 249
    categories = demo_training_data("category")
    assert "Printing" in categories.labels and not any(
        label.startswith("Category ") for label in categories.labels
    )
    assert categories.texts[0] == "What software can I use to view epub documents?"
