"""Content sniffing, the deny list, safe names, and the all-or-nothing local storage."""

from __future__ import annotations

import io
import os
import time

import pytest

from itsm_ai.attachment import sniff
from itsm_ai.attachment.storage import LocalStorage, TooLarge
from tests.mail.helpers import PNG


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (PNG, "notes.txt", "image/png"),
        (b"%PDF-1.4\n...", "x.png", "application/pdf"),
        (b"MZ\x90\x00" + b"\0" * 100, "report.pdf", "application/x-dosexec"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 60, "data.bin", "application/x-executable"),
        (b"#!/bin/sh\nrm -rf /\n", "readme.txt", "text/x-shellscript"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "a.png", "text/html"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "a.png",
            "image/svg+xml",
        ),
        (b"plain words\n", "a.exe.txt", "text/plain"),
        (b"", "empty.txt", "application/x-empty"),
    ],
)
def test_the_type_comes_from_the_bytes(data, name, expected):
    assert sniff.sniff(data, name) == expected


def test_zip_containers_refined_by_content():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    assert sniff.sniff(buffer.getvalue(), "tool.zip") == "application/java-archive"


@pytest.mark.parametrize(
    ("name", "ctype", "refused"),
    [
        ("setup.EXE", "application/octet-stream", True),
        ("script.ps1", "text/plain", True),
        ("invoice.pdf", "application/x-dosexec", True),
        ("run.txt", "text/x-shellscript", True),
        ("screen.png", "image/png", False),
        ("noext", "text/plain", False),
    ],
)
def test_deny_list_by_name_and_by_content(name, ctype, refused):
    from itsm_ai.config import get_settings

    s = get_settings()
    reason = sniff.refusal(
        filename=name,
        content_type=ctype,
        denied_extensions=s.attachment_denied_extensions,
        denied_types=s.attachment_denied_types,
    )
    assert bool(reason) is refused


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\evil.png", "evil.png"),
        ("bad\x00name\n.txt", "bad_name_.txt"),
        ("", "attachment"),
        ("...", "attachment"),
        ("a" * 300 + ".png", "a" * 247 + ".png"),
    ],
)
def test_safe_filenames(raw, safe):
    assert sniff.safe_filename(raw) == safe


def test_storage_writes_whole_files_or_nothing(tmp_path):
    store = LocalStorage(tmp_path)
    stored = store.put(io.BytesIO(b"abc" * 1000), max_bytes=10_000)
    assert stored.size == 3000 and store.open(stored.key).read() == b"abc" * 1000
    with pytest.raises(TooLarge):
        store.put(io.BytesIO(b"x" * 20_000), max_bytes=10_000)
    assert [o.key for o in store.objects()] == [stored.key]  # the refused write left nothing behind
    assert store.delete(stored.key) and not store.exists(stored.key) and not store.delete(stored.key)
    with pytest.raises(ValueError):
        store.open("../../etc/passwd")


def test_unfinished_writes_are_visible_to_the_sweep(tmp_path):
    store = LocalStorage(tmp_path)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "dead.part").write_bytes(b"half")
    old = time.time() - 7200
    os.utime(tmp_path / "tmp" / "dead.part", (old, old))
    [obj] = list(store.objects())
    assert obj.partial and obj.key == "tmp/dead.part"
