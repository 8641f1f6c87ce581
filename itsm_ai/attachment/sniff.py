"""The content type of a file, sniffed from its first bytes (libmagic), never taken from the client.

Pure: bytes and a file name in, a content type or a refusal reason out.
"""

from __future__ import annotations

import re
from functools import lru_cache

GENERIC = "application/octet-stream"
# Executable signatures checked first, so the deny list holds even when libmagic calls a truncated
# executable "data".
_EXECUTABLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xfe\xed\xfa\xce", "application/x-mach-binary"),
    (b"\xfe\xed\xfa\xcf", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"),
    (b"#!", "text/x-shellscript"),
)
_OFFICE_BY_EXTENSION = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
}
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")


@lru_cache(maxsize=1)
def _magic():
    import magic

    return magic.Magic(mime=True)


def extension(filename: str) -> str:
    """The lower-case ending after the last dot ("" without one)."""
    name = filename.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def sniff(head: bytes, filename: str = "") -> str:
    """The content type of a file from its first bytes; the name only refines a ZIP container."""
    if not head:
        return "application/x-empty"
    for signature, content_type in _EXECUTABLE_MAGIC:
        if head.startswith(signature):
            return content_type
    try:
        found = str(_magic().from_buffer(head)).split(";")[0].strip().lower()
    except Exception:  # noqa: BLE001 - an unreadable buffer is just unknown bytes
        found = GENERIC
    if not _TYPE.match(found):
        found = GENERIC
    if found == "application/zip":
        if b"META-INF/MANIFEST.MF" in head:
            return "application/java-archive"
        office = _OFFICE_BY_EXTENSION.get(extension(filename))
        if office and (b"[Content_Types].xml" in head or b"mimetype" in head):
            return office
    return found


def refusal(
    *, filename: str, content_type: str, denied_extensions: list[str], denied_types: list[str]
) -> str | None:
    """Why a file is refused (an executable by name or by content), or None when it may be stored."""
    ending = extension(filename)
    if ending and ending in {e.lower().lstrip(".") for e in denied_extensions}:
        return f"files ending in .{ending} are not accepted (executable types are refused)"
    if content_type in {t.lower() for t in denied_types}:
        return f"the file's content is {content_type} (executable types are refused)"
    return None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]+")


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A display name without path parts or control characters, at most 255 characters."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE.sub("_", text).strip().strip(".") or fallback
    if len(text) > 255:
        stem, dot, ending = text.rpartition(".")
        text = (stem[: 250 - len(ending)] + dot + ending) if dot and len(ending) < 20 else text[:255]
    return text
