"""The console Models pages show each kind of model with its own measures (prediction models, the chat
intent detector, the encoder are not triage classifiers: no "Classes 0", no n/a accuracy)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.ui.conftest import login

REGISTRY = Path(__file__).resolve().parents[2] / "models"
SHIPPED = ("sla_breach", "time_to_resolve", "volume_anomaly", "chat_intents")


def _copy_registry(folder: Path) -> None:
    """The shipped registry (CURRENT, HISTORY, each version's metadata and model) in a folder of its own."""
    for name in SHIPPED:
        source = REGISTRY / name
        if not (source / "CURRENT").is_file():
            pytest.skip(f"the shipped registry has no {name}")
        target = folder / name
        target.mkdir(parents=True)
        for extra in ("CURRENT", "HISTORY"):
            if (source / extra).is_file():
                shutil.copy(source / extra, target / extra)
        for version in source.glob("v[0-9]*"):
            (target / version.name).mkdir()
            for file in ("metadata.json", "model.joblib"):
                shutil.copy(version / file, target / version.name / file)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    from itsm_ai.config import get_settings

    folder = tmp_path / "models"
    _copy_registry(folder)
    monkeypatch.setattr(get_settings(), "models_dir", folder)
    return folder


def _section(html: str, kind: str) -> str:
    match = re.search(rf'<section class="card" aria-labelledby="kind-{kind}".*?</section>', html, re.S)
    assert match, f"no {kind} section"
    return match.group(0)


def test_models_page_groups_models_by_kind_with_their_own_measures(client, users, registry):
    login(client, "data_scientist")
    page = client.get("/console/models")
    assert page.status_code == 200
    html = page.text
    predictions = _section(html, "prediction")
    for name in ("sla_breach", "time_to_resolve", "volume_anomaly"):
        assert f">{name}</a>" in predictions
    # The shipped breach model: AUC 0.815 against the priority-only baseline's 0.550, Brier 0.142 vs 0.206.
    assert "AUC, priority-only baseline" in predictions and "0.815" in predictions and "0.550" in predictions
    assert "0.142" in predictions and "0.206" in predictions
    # Time to resolve: MAE 121.8 h against the median-per-priority baseline's 138.4 h.
    assert "MAE, median-per-priority baseline" in predictions
    assert "121.8 h" in predictions and "138.4 h" in predictions
    assert "Series (group and category)" in predictions and ">102<" in predictions
    intents = _section(html, "intents")
    assert ">chat_intents</a>" in intents and "Out-of-scope refused" in intents
    assert "96.1%" in intents  # held-out intent accuracy of v0004
    for section in (predictions, intents):
        assert "Classes" not in section and "Held-out accuracy" not in section and "n/a" not in section
    assert 'aria-labelledby="kind-triage"' not in html  # no triage model in this registry


def test_prediction_model_page_shows_its_measures_and_working_actions(client, users, registry):
    login(client, "data_scientist")
    page = client.get("/console/models/sla_breach")
    assert page.status_code == 200
    html = page.text
    assert "Classes" not in html and "n/a" not in html and "per-class" not in html
    assert 'id="side-by-side"' in html and "0.815" in html
    assert 'data-url="/api/v1/models/sla_breach/rollback"' in html
    # One version, CURRENT: nothing to promote; the breach model runs a challenger in shadow.
    assert "No challenger is running" in html


def test_intent_and_volume_pages_offer_promote_but_no_shadow(client, users, registry):
    login(client, "data_scientist")
    html = client.get("/console/models/chat_intents").text
    assert 'data-url="/api/v1/models/chat_intents/promote"' in html and "Promote v0001" in html
    assert "/challenger" not in html and "Nothing runs a challenger of chat_intents" in html
    assert "Classes" not in html and "n/a" not in html and "Intent accuracy (held out)" in html
    volume = client.get("/console/models/volume_anomaly").text
    assert "Anomaly p-value" in volume and "Classes" not in volume and "n/a" not in volume


def test_promote_and_rollback_urls_of_the_page_move_current_of_the_intent_detector(client, users, registry):
    login(client, "data_scientist")
    # The page's button posts here; an intent detector version goes CURRENT, then rolls back.
    before = (registry / "chat_intents" / "CURRENT").read_text().strip()
    older = "v0001" if before != "v0001" else "v0002"
    headers = users["data_scientist"].headers
    moved = client.post("/api/v1/models/chat_intents/promote", json={"version": older}, headers=headers)
    assert moved.status_code == 200 and moved.json()["current"] == older, moved.text
    assert f'<strong id="current-version">{older}</strong>' in client.get("/console/models/chat_intents").text
    back = client.post("/api/v1/models/chat_intents/rollback", headers=headers)
    assert back.status_code == 200 and back.json()["current"] == before


def test_model_kinds_pure():
    from itsm_ai.ui import model_kinds as mk

    assert mk.model_kind("sla_breach", {}) == mk.PREDICTION
    assert mk.model_kind("x", {"model_class": "itsm_ai.chat.intents.IntentDetector"}) == mk.INTENTS
    assert mk.model_kind("category", {"model_class": "sklearn.pipeline.Pipeline"}) == mk.TRIAGE
    encoder = {
        "evaluation": {
            "holdout": {"pairs": 200, "base": {"recall@1": 0.5, "recall@5": 0.7}, "tuned": {"recall@1": 0.6}}
        }
    }
    got = {m["label"]: m["value"] for m in mk.measures("encoder", mk.ENCODER, encoder)}
    assert got == {
        "Held-out pairs": "200",
        "Recall@1 stock": "50.0%",
        "Recall@1 tuned": "60.0%",
        "Recall@5 stock": "70.0%",
        "Recall@5 tuned": "—",
    }
    assert mk.runs_shadow("sla_breach", mk.PREDICTION) and not mk.runs_shadow("volume_anomaly", mk.PREDICTION)
    assert not mk.runs_shadow("chat_intents", mk.INTENTS)
    # The first intent versions kept their out-of-scope figure flat.
    old = {"validation": {"out_of_scope_recall": 0.9}}
    assert {m["label"]: m["value"] for m in mk.measures("chat_intents", mk.INTENTS, old)}[
        "Out-of-scope refused"
    ] == "90.0%"


def test_prediction_challenger_shows_the_prediction_shadow_report(client, users, registry):
    from itsm_ai.registry import store

    store.set_challenger("sla_breach", "v0001", models_dir=registry)
    login(client, "data_scientist")
    html = client.get("/console/models/sla_breach").text
    # The breach model's own shadow figures (AUC, Brier on ended incidents), not the triage precision.
    table = re.search(r'<table id="shadow">.*?</table>', html, re.S)
    assert table and "Brier score" in table.group(0) and "Precision" not in table.group(0)
    assert "Stop shadow" in html
