"""Fixtures for the triage ML tests: small slices of the real ticket data and a fast stand-in encoder."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from itsm_ai.classify.estimators.features import clear_embedding_cache
from tests.conftest import SHARED_DATA


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    return next(p for p in here.parents if (p / "pyproject.toml").exists())


DATA_DIR = SHARED_DATA


def _require(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent")
    return path


@pytest.fixture(scope="session")
def topics() -> tuple[list, list]:
    """40 tickets per topic group of it_tickets_topics.csv, plus the one row without a label."""
    frame = pd.read_csv(_require("it_tickets_topics.csv"))
    labelled = frame.dropna(subset=["Topic_group"]).groupby("Topic_group", sort=True).head(40)
    part = pd.concat([labelled, frame[frame["Topic_group"].isna()]])
    return part["Document"].tolist(), part["Topic_group"].tolist()


@pytest.fixture(scope="session")
def assignment() -> tuple[list[str], list[str]]:
    """The first 900 incidents of ticket_assignment.csv: GRP_0 dominates, most groups are rare."""
    frame = pd.read_csv(_require("ticket_assignment.csv")).head(900)
    texts = [
        " . ".join(p for p in (s, d) if isinstance(p, str))
        for s, d in zip(frame["Short description"], frame["Description"], strict=True)
    ]
    return texts, frame["Assignment group"].tolist()


@pytest.fixture(scope="session")
def routing() -> tuple[list[dict], list[str]]:
    """Last event per incident of the ServiceNow log: routing fields and assignment group."""
    frame = pd.read_csv(_require("servicenow_incident_event_log.csv"), dtype=str, keep_default_na=False)
    frame = frame.groupby("number", sort=False).tail(1)
    fields = ["category", "subcategory", "u_symptom", "cmdb_ci", "location"]
    return frame[fields].to_dict("records"), frame["assignment_group"].tolist()


class FakeEncoder:
    """Hashes words into 384 dimensions: similar texts get similar unit vectors, no model is loaded."""

    model_name = "fake"
    dimension = 384

    def __init__(self):
        self.calls = 0

    def encode(self, texts, *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", str(text).lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture
def fake_encoder(monkeypatch) -> FakeEncoder:
    """Replace the sentence model with FakeEncoder (and keep its vectors out of the shared cache)."""
    import itsm_ai.embeddings

    encoder = FakeEncoder()
    monkeypatch.setattr(itsm_ai.embeddings, "get_encoder", lambda backend="torch", batch_size=64: encoder)
    clear_embedding_cache()
    yield encoder
    clear_embedding_cache()


# ------------------------------------------------------------------------------------------ serving fixtures

DEMO_CSV = _repo_root() / "itsm_ai" / "demo" / "it_tickets_topics.csv"
# Word n-grams only: about 5x faster to train than with character n-grams, good enough for serving tests.
FAST = {"char_ngram_range": None}


@pytest.fixture(scope="session")
def demo_csv() -> Path:
    """The 400 real topic tickets bundled with the package (no ../shared needed)."""
    return DEMO_CSV


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory, demo_csv) -> Path:
    """A registry with category v0001 (TF-IDF, promoted) trained once on the bundled demo tickets."""
    from itsm_ai.classify.training.data import csv_training_data
    from itsm_ai.classify.training.trainer import train_model

    folder = tmp_path_factory.mktemp("registry")
    data = csv_training_data(demo_csv, text_cols=["Document"], label_col="Topic_group")
    train_model(
        data, target="category", features="tfidf", folder=folder, promote=True, extra_params=FAST
    )
    return folder


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    """An empty registry folder for this test, set in the settings (and fast TF-IDF training)."""
    from itsm_ai.classify.serving.suggestions import CACHE
    from itsm_ai.config import get_settings

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(get_settings(), "models_dir", folder)
    monkeypatch.setattr(get_settings(), "triage_train_params", FAST)
    CACHE.clear()
    yield folder
    CACHE.clear()


@pytest.fixture
def trained(models_dir, trained_registry) -> Path:
    """This test's registry folder holding a copy of the trained category model (CURRENT v0001)."""
    import shutil

    shutil.copytree(trained_registry, models_dir, dirs_exist_ok=True)
    return models_dir


@pytest.fixture
def triage_settings(monkeypatch):
    """Change triage settings for one test: triage_settings(triage_modes={"category": "auto"})."""
    from itsm_ai.config import get_settings

    def change(**values):
        for key, value in values.items():
            monkeypatch.setattr(get_settings(), key, value)

    return change


@pytest.fixture
def demo_tickets(db, demo_csv) -> int:
    """The 400 demo topic tickets imported into the store as incidents (category = topic group)."""
    from itsm_ai.data.importer import import_csv

    report = import_csv(
        path=demo_csv, mapping={"short_description": "Document", "category": "Topic_group"}, skip_bad=True
    )
    return report.imported
