"""Where attachment bytes live: a small interface (so object storage can follow) and the local folder store.

Writes are all-or-nothing: bytes go to a temporary file that is fsynced and renamed into place, so a reader
never sees half a file and a crash leaves at most a temporary file, which the orphan sweep removes.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
HEAD_BYTES = 8192


class TooLarge(Exception):
    """The stream held more than the allowed number of bytes (nothing was kept)."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    """What a completed write produced."""

    key: str
    size: int
    sha256: str
    head: bytes


@dataclass(frozen=True)
class StoredObject:
    """A key in the store with its age, for the orphan sweep."""

    key: str
    modified_at: float
    partial: bool


class Storage(Protocol):
    """The operations the attachment service needs from a byte store."""

    def put(self, stream: BinaryIO, *, max_bytes: int) -> Stored:
        """Store the stream under a new key, or raise TooLarge (keeping nothing)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary file of the stored bytes (FileNotFoundError when absent)."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the bytes; True when something was removed."""
        ...

    def exists(self, key: str) -> bool:
        """True when the key holds bytes."""
        ...

    def objects(self) -> Iterator[StoredObject]:
        """Every stored key and unfinished write, for the orphan sweep."""
        ...


class LocalStorage:
    """Files under a folder: `<root>/<2 hex>/<uuid>`, unfinished writes in `<root>/tmp/`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        # Keys are generated here, but a tampered row must never reach outside the folder.
        if "/" not in key or ".." in key or key.startswith("/") or "\\" in key:
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, stream: BinaryIO, *, max_bytes: int) -> Stored:
        """Copy the stream in chunks, hashing as it goes; over `max_bytes` keeps nothing."""
        name = uuid.uuid4().hex
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{name}.part"
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            key = f"{name[:2]}/{name}"
            final = self._path(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(key=key, size=size, sha256=digest.hexdigest(), head=head)

    def open(self, key: str) -> BinaryIO:
        """The stored file, opened for reading."""
        return open(self._path(key), "rb")

    def delete(self, key: str) -> bool:
        """Remove the file (missing is not an error)."""
        path = self._path(key)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def exists(self, key: str) -> bool:
        """True when the file is there."""
        return self._path(key).is_file()

    def objects(self) -> Iterator[StoredObject]:
        """Stored files and unfinished writes with their modification times."""
        if not self.root.is_dir():
            return
        for sub in self.root.iterdir():
            if not sub.is_dir():
                continue
            for path in sub.iterdir():
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                partial = sub.name == "tmp"
                key = f"tmp/{path.name}" if partial else f"{sub.name}/{path.name}"
                yield StoredObject(key=key, modified_at=modified, partial=partial)


def age_seconds(obj: StoredObject) -> float:
    """How long ago the object was last written."""
    return time.time() - obj.modified_at
