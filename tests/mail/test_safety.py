"""Archive bombs are refused by unpacking with a running count, never trusting declared sizes."""

from __future__ import annotations

import gzip
import io
import zipfile

from itsm_ai.mail.safety import bomb_reason

LIMIT = 50 * 1024 * 1024


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_ordinary_archive_passes():
    assert bomb_reason(zipped({"log.txt": b"line\n" * 1000}), max_unpacked=LIMIT, max_ratio=100) is None


def test_a_zip_that_unpacks_past_the_limit_is_a_bomb():
    data = zipped({"zeros.bin": b"\0" * (60 * 1024 * 1024)})
    reason = bomb_reason(data, max_unpacked=LIMIT, max_ratio=100)
    assert reason and "archive bomb" in reason and "ITSM_MAIL_MAX_UNPACKED_BYTES" in reason


def test_a_nested_zip_is_counted_through():
    inner = zipped({"zeros.bin": b"\0" * (30 * 1024 * 1024)})
    data = zipped({"a.zip": inner, "b.zip": inner})
    assert bomb_reason(data, max_unpacked=LIMIT, max_ratio=10_000)


def test_a_highly_compressed_gzip_is_a_bomb_by_ratio():
    data = gzip.compress(b"\0" * (20 * 1024 * 1024))
    reason = bomb_reason(data, max_unpacked=LIMIT, max_ratio=100)
    assert reason and "ITSM_MAIL_MAX_COMPRESSION_RATIO" in reason


def test_damaged_archives_and_plain_files_are_not_bombs():
    assert bomb_reason(b"PK\x03\x04 not really a zip", max_unpacked=LIMIT, max_ratio=100) is None
    assert bomb_reason(b"%PDF-1.4", max_unpacked=LIMIT, max_ratio=100) is None
