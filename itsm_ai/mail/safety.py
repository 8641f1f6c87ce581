"""Archive bombs: an attached archive that unpacks to far more than it weighs is refused.

Pure: attachment bytes in, a reason or None out. ZIP members and gzip/bzip2/xz streams are decompressed with a
running count (never trusting the sizes an archive declares), nested archives up to three levels.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib

CHUNK = 1024 * 1024
MIN_BOMB_BYTES = 10 * 1024 * 1024


class ArchiveBomb(Exception):
    """The archive unpacks beyond the limits."""


def _stream_size(handle, budget: int) -> int:
    total = 0
    while chunk := handle.read(CHUNK):
        total += len(chunk)
        if total > budget:
            raise ArchiveBomb(f"unpacks to more than {budget} bytes")
    return total


def _kind(data: bytes) -> str | None:
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def unpacked_size(data: bytes, *, budget: int, depth: int = 0) -> int:
    """Bytes the archive unpacks to (nested archives included); ArchiveBomb past the budget."""
    kind = _kind(data)
    if kind is None or depth > 3:
        return len(data)
    try:
        if kind == "zip":
            total = 0
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if info.file_size > budget - total:
                        raise ArchiveBomb(f"member {info.filename!r} declares {info.file_size} bytes")
                    with archive.open(info) as member:
                        head = member.read(8)
                        if _kind(head) is not None and depth < 3:
                            rest = head + member.read(budget - total - len(head) + 1)
                            total += unpacked_size(rest, budget=budget - total, depth=depth + 1)
                        else:
                            total += len(head) + _stream_size(member, budget - total - len(head))
                    if total > budget:
                        raise ArchiveBomb(f"unpacks to more than {budget} bytes")
            return total
        opener = {"gzip": gzip.GzipFile, "bzip2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
        with opener(fileobj=io.BytesIO(data)) as stream:
            return _stream_size(stream, budget)
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        lzma.LZMAError,
        zlib.error,
        RuntimeError,
        NotImplementedError,
    ):
        return len(data)  # damaged or encrypted: not unpackable, so not a bomb either


def bomb_reason(data: bytes, *, max_unpacked: int, max_ratio: float) -> str | None:
    """Why an attachment is an archive bomb, or None."""
    if _kind(data) is None:
        return None
    try:
        size = unpacked_size(data, budget=max_unpacked)
    except ArchiveBomb as exc:
        return f"archive bomb: {exc} (ITSM_MAIL_MAX_UNPACKED_BYTES={max_unpacked})"
    ratio = size / max(1, len(data))
    if size > MIN_BOMB_BYTES and ratio > max_ratio:
        return (
            f"archive bomb: unpacks {ratio:.0f}x ({size} bytes from {len(data)}; "
            f"ITSM_MAIL_MAX_COMPRESSION_RATIO={max_ratio:g})"
        )
    return None
