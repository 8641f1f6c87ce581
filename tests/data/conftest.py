"""Import/export test fixtures: slices of the real data files and a CLI runner on the test database."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner


@pytest.fixture
def write_slice(tmp_path: Path) -> Callable[..., Path]:
    """Write the header and the first n records (plus chosen record indexes) of a real CSV to a new file."""

    def _write(source: Path, n: int, *, extra: Sequence[int] = (), name: str | None = None) -> Path:
        with source.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = list(reader)
        chosen = rows[:n] + [rows[i] for i in extra if i >= n]
        path = tmp_path / (name or source.name)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(chosen)
        return path

    return _write


@pytest.fixture
def head_lines(tmp_path: Path) -> Callable[..., Path]:
    """Copy the first n physical lines of a file (for files without multi-line values)."""

    def _head(source: Path, n: int, name: str | None = None) -> Path:
        path = tmp_path / (name or source.name)
        with source.open("rb") as handle:
            path.write_bytes(b"".join(next(handle) for _ in range(n)))
        return path

    return _head


@pytest.fixture
def cli(db):
    """Run `itsm-ai ...` in process against the test database; returns click's Result."""
    from itsm_ai.cli import app

    runner = CliRunner()

    def _invoke(*args) -> object:
        return runner.invoke(app, [str(a) for a in args])

    return _invoke


@pytest.fixture
def count(db):
    """Rows in a table of the test database (by model)."""
    from itsm_ai.database import get_session

    def _count(model) -> int:
        with get_session() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    return _count
