"""The pure manifest: what a backup must declare, and how extracted files are checked against it."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from itsm_ai.backup import manifest as mf

DB = "database/itsm.sqlite3"
ENTRY = {"sha256": "a" * 64, "size": 3}


def _manifest(**changes) -> str:
    data = {
        "format": mf.FORMAT,
        "format_version": mf.FORMAT_VERSION,
        "created_at": "2026-12-05T20:00:00+00:00",
        "database_kind": "sqlite",
        "alembic_revision": "0013",
        "app_version": "0.1.0",
        "files": {DB: ENTRY, "attachments/ab/abcd": ENTRY},
    }
    data.update(changes)
    return json.dumps(data)


def test_a_manifest_survives_its_own_json():
    parsed = mf.parse(_manifest())
    assert mf.parse(parsed.to_json()) == parsed
    assert parsed.database_member == DB


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps([1, 2]), "not an itsm-ai backup"),
        (_manifest(format="other-tool"), "not an itsm-ai backup"),
        (_manifest(format_version=2), "version 2 is not supported"),
        (_manifest(database_kind="mysql"), "unknown database kind"),
        (_manifest(files={"attachments/x": ENTRY}), "no database dump"),
        (_manifest(files={DB: ENTRY, "../etc/passwd": ENTRY}), "lists files badly"),
        (_manifest(files={DB: ENTRY, "/etc/passwd": ENTRY}), "lists files badly"),
        (_manifest(files={DB: ENTRY, "elsewhere/x": ENTRY}), "lists files badly"),
        (_manifest(files={DB: {"sha256": "a" * 64}}), "lists files badly"),
        (_manifest(alembic_revision=13), "alembic_revision"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_foreign_or_broken_manifests_are_refused(text, message):
    with pytest.raises(mf.ManifestError, match=message):
        mf.parse(text)


def test_check_files_names_missing_extra_and_changed_files():
    manifest = mf.parse(_manifest())
    mf.check_files(manifest, {DB: ENTRY, "attachments/ab/abcd": ENTRY})
    with pytest.raises(mf.ManifestError, match="missing attachments/ab/abcd"):
        mf.check_files(manifest, {DB: ENTRY})
    with pytest.raises(mf.ManifestError, match="not in the manifest models/x"):
        mf.check_files(manifest, {DB: ENTRY, "attachments/ab/abcd": ENTRY, "models/x": ENTRY})
    with pytest.raises(mf.ManifestError, match="checksum mismatch attachments/ab/abcd"):
        mf.check_files(manifest, {DB: ENTRY, "attachments/ab/abcd": {"sha256": "b" * 64, "size": 3}})


@pytest.mark.parametrize(
    ("section", "path", "skipped"),
    [
        ("attachments", "ab/abcdef", False),
        ("attachments", "tmp/abcdef.part", True),
        ("models", "category/v1/model.joblib", False),
        ("models", "category/.tmp-123/model.joblib", True),
        ("models", "category/.CURRENT.x.tmp", True),
        ("models", "tmp/model.joblib", False),
        ("index", ".tmp-snap/vectors.npy", True),
    ],
)
def test_unfinished_writes_are_skipped(section, path, skipped):
    assert mf.skipped(section, PurePosixPath(path)) is skipped


def test_sha256_of_a_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert mf.file_entry(path) == {
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "size": 3,
    }
