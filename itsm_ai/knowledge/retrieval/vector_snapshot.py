"""On-disk snapshots of the vector index: atomic publication, compatibility checks on load.

A snapshot is a folder ``snapshot-<time>-<uid>`` holding ``index.faiss``, ``positions.npy`` (position ->
id, ``-1`` for a tombstone), ``payloads.json`` and ``metadata.json``. It is written under a temporary
name, renamed into place, and only then does ``CURRENT`` (swapped by an atomic rename) point at it, so a
reader or a crash never sees a half-written index.

faiss is imported lazily inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


class IndexCompatibilityError(ValueError):
    """Raised when a stored index was built with another embedding model, version or dimension."""


@dataclass(frozen=True)
class Snapshot:
    """The validated contents of one snapshot folder."""

    path: Path
    meta: dict[str, Any]
    index: Any
    positions: np.ndarray
    payloads: dict[int, dict[str, Any]]


def publish_snapshot(
    directory: str | os.PathLike[str], write: Callable[[Path], None], *, keep: int = 2
) -> Path:
    """Let ``write`` fill a new snapshot folder, then atomically point ``directory/CURRENT`` at it."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    name = f"snapshot-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    try:
        write(tmp)
        os.replace(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f".CURRENT-{uuid.uuid4().hex[:8]}"
    pointer.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer, root / "CURRENT")
    fsync_dir(root)
    snapshots = sorted(p for p in root.glob("snapshot-*") if p.is_dir())
    for old in snapshots[: max(0, len(snapshots) - max(1, keep))]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return root / name


def read_snapshot(
    directory: str | os.PathLike[str],
    *,
    expected_model: str | None = None,
    expected_version: str | None = None,
    expected_dimension: int | None = None,
) -> Snapshot:
    """Read the current snapshot; refuses another format, embedding model, version or dimension."""
    import faiss

    root = Path(directory)
    pointer = root / "CURRENT"
    if pointer.exists():
        snap = root / pointer.read_text(encoding="utf-8").strip()
    elif (root / "metadata.json").exists():
        snap = root
    else:
        raise FileNotFoundError(f"no saved vector index in {root} (missing CURRENT)")
    meta = json.loads((snap / "metadata.json").read_text(encoding="utf-8"))
    if meta.get("format_version") != FORMAT_VERSION:
        raise IndexCompatibilityError(
            f"index format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}"
        )
    for field, expected in (
        ("model_name", expected_model),
        ("model_version", expected_version),
        ("dimension", expected_dimension),
    ):
        if expected is not None and meta.get(field) != expected:
            raise IndexCompatibilityError(
                f"index at {snap} was built with {field}={meta.get(field)!r}, expected {expected!r}: "
                "re-embed the collection and rebuild the index"
            )
    index = faiss.read_index(str(snap / "index.faiss"))
    if index.d != meta["dimension"]:
        raise IndexCompatibilityError(
            f"faiss index dimension {index.d} differs from metadata dimension {meta['dimension']}"
        )
    positions = np.load(snap / "positions.npy")
    if len(positions) != index.ntotal:
        raise ValueError(f"corrupt index at {snap}: {len(positions)} positions for {index.ntotal} vectors")
    payloads = {
        int(item_id): payload
        for item_id, payload in json.loads((snap / "payloads.json").read_text(encoding="utf-8"))
    }
    return Snapshot(path=snap, meta=meta, index=index, positions=positions, payloads=payloads)


def write_json(path: Path, data: Any) -> None:
    """Write JSON and fsync it, so that the rename publishing the snapshot follows durable data."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (the CURRENT rename) to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
