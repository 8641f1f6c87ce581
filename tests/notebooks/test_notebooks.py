"""The notebooks in notebooks/ run from top to bottom (on a scratch database and models folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["triage_walkthrough.ipynb"])
def test_notebook_runs(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # The kernel is a separate process: it reads the settings from the environment it inherits.
    monkeypatch.setenv("ITSM_DATABASE_URL", f"sqlite:///{tmp_path / 'notebook.db'}")
    monkeypatch.setenv("ITSM_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ITSM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ITSM_TRIAGE_TRAIN_PARAMS", '{"char_ngram_range": null}')  # faster training
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert (tmp_path / "models" / "category" / "v0002").is_dir()


@pytest.mark.slow
def test_reports_notebook_runs(tmp_path, monkeypatch):
    """The reports walkthrough imports the bundled ServiceNow slice and checks every figure against pandas."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("ITSM_DATABASE_URL", f"sqlite:///{tmp_path / 'reports.db'}")
    monkeypatch.setenv("ITSM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("REPORTS_DATA", raising=False)
    notebook = nbformat.read(NOTEBOOKS / "reports_walkthrough.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 3
