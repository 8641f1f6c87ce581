"""The manifest of a backup archive: what it holds and the sha256 of every file (pure: values in and out)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = "itsm-ai-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
# Folders of the archive; the database member lives in "database/".
SECTIONS = ("attachments", "models", "index")
DATABASE_MEMBERS = {"sqlite": "database/itsm.sqlite3", "postgresql": "database/itsm.pgdump"}
_CHUNK = 1024 * 1024


class ManifestError(ValueError):
    """The archive is not an itsm-ai backup, or its content does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    """What one archive holds: its format, origin, schema revision and the hash and size of each file."""

    created_at: str
    database_kind: str
    alembic_revision: str | None
    app_version: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def database_member(self) -> str:
        """The archive path of the database dump."""
        return DATABASE_MEMBERS[self.database_kind]

    def to_json(self) -> str:
        """The manifest as the JSON text stored in the archive."""
        return json.dumps(
            {
                "format": FORMAT,
                "format_version": self.format_version,
                "created_at": self.created_at,
                "database_kind": self.database_kind,
                "alembic_revision": self.alembic_revision,
                "app_version": self.app_version,
                "files": self.files,
            },
            indent=2,
            sort_keys=True,
        )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest entry of one file: its sha256 and size."""
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def skipped(section: str, relative: PurePosixPath) -> bool:
    """True for unfinished writes, not part of the store: dot-named temp files, attachments' tmp/."""
    if any(part.startswith(".") for part in relative.parts):
        return True
    return section == "attachments" and relative.parts[:1] == ("tmp",)


def safe_member(name: str) -> bool:
    """True when an archive path is relative, has no '..' and sits in a known place."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return False
    return name == MANIFEST_NAME or path.parts[0] in (*SECTIONS, "database")


def parse(text: str | bytes) -> Manifest:
    """Read a manifest, refusing anything that is not a backup of a format this version understands."""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest.json is not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError("manifest.json is not an itsm-ai backup manifest")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ManifestError(
            f"backup format version {version!r} is not supported (this build reads {FORMAT_VERSION})"
        )
    kind = data.get("database_kind")
    if kind not in DATABASE_MEMBERS:
        raise ManifestError(f"unknown database kind {kind!r}")
    files = data.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(name, str)
        and safe_member(name)
        and isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("size"), int)
        for name, entry in files.items()
    ):
        raise ManifestError("manifest.json lists files badly (paths, sha256 or sizes)")
    if DATABASE_MEMBERS[kind] not in files:
        raise ManifestError("manifest.json lists no database dump")
    revision = data.get("alembic_revision")
    if revision is not None and not isinstance(revision, str):
        raise ManifestError("alembic_revision must be a string")
    return Manifest(
        created_at=str(data.get("created_at")),
        database_kind=kind,
        alembic_revision=revision,
        app_version=str(data.get("app_version")),
        files=files,
        format_version=version,
    )


def check_files(manifest: Manifest, present: dict[str, dict[str, Any]]) -> None:
    """Raise when the extracted files (name -> entry) differ from the manifest: missing, extra or changed."""
    missing = sorted(set(manifest.files) - set(present))
    extra = sorted(set(present) - set(manifest.files))
    changed = sorted(
        name for name in set(manifest.files) & set(present) if manifest.files[name] != present[name]
    )
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:3])}")
    if extra:
        problems.append(f"not in the manifest {', '.join(extra[:3])}")
    if changed:
        problems.append(f"checksum mismatch {', '.join(changed[:3])}")
    if problems:
        raise ManifestError("archive is corrupt: " + "; ".join(problems))
