"""`itsm-ai serve` keeps idle connections open longer than a client's pause (issue 13's load test: with
uvicorn's 5 s a request sent just as the server closed the idle connection was reset)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("seconds", [None, 12.5])
def test_serve_passes_the_keep_alive_to_uvicorn(db, monkeypatch, seconds):
    import uvicorn
    from typer.testing import CliRunner

    from itsm_ai.cli import app
    from itsm_ai.config import get_settings

    if seconds is not None:
        monkeypatch.setattr(get_settings(), "api_keep_alive_seconds", seconds)
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    result = CliRunner().invoke(app, ["serve", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert seen["timeout_keep_alive"] == (seconds or 75.0)
    if seconds is None:
        assert seen["timeout_keep_alive"] > 30  # the longest think time of benchmarks/bench_load.py
