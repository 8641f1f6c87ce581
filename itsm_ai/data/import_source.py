"""Reading import files: decoding (UTF-8, cp1252, latin-1; .gz), the delimiter, rows with their line numbers,
and the cleaning of cell text (see `itsm_ai.data.importer`)."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

from itsm_ai.data.import_report import ImportFileError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What makes an ASCII row need clean_text: a control character or a carriage return (the unit separator \x1f
# joins a row's cells for this check, so it is allowed).
NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1e\x7f]")
# A UTF-8 lead byte read as cp1252/latin-1 (Â..ô) followed by a continuation byte read the same way.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013-\u203a\u20ac\u2122]"
)


@dataclass
class SourceTable:
    """A decoded CSV file: its columns and its rows as (line number, cells)."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def _decode(raw: bytes, encoding: str) -> tuple[str, str]:
    if encoding != "auto":
        try:
            return raw.decode(encoding), encoding
        except LookupError as exc:
            raise ImportFileError(f"encoding: unknown encoding {encoding!r}", field="encoding") from exc
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"encoding: the file is not {encoding} (byte {exc.start}); try --encoding auto",
                field="encoding",
            ) from exc
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    for name in ("utf-8", "cp1252"):
        try:
            return raw.decode(name), name
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(path: str | Path, *, encoding: str = "auto") -> SourceTable:
    """Read and decode a CSV file (optionally .gz) into columns and (line, cells) rows."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"file: {path} not found", field="file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise ImportFileError(f"file: {path} is not a readable gzip file ({exc})", field="file") from exc
    content, used = _decode(raw, encoding)
    if "\x00" in content:
        content = content.replace("\x00", "")
    # Normalised once for the whole file: values keep "\n" only, and line numbers stay the same.
    if "\r\n" in content:
        content = content.replace("\r\n", "\n")
    first_line = content.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    # strict: a quote that is never closed raises instead of silently swallowing the rows after it.
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"file: {path} is empty", field="file") from None
    except csv.Error as exc:
        raise _quoting_error(1, reader.line_num, exc) from exc
    columns = [c.strip() for c in header]
    if not any(columns):
        raise ImportFileError(f"file: {path} has no header row", field="file")
    _check_header(columns)
    rows: list[tuple[int, list[str]]] = []
    previous_end = reader.line_num
    try:
        for cells in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            rows.append((start, cells))
    except csv.Error as exc:
        # The failing row starts right after the last row read.
        raise _quoting_error(previous_end + 1, reader.line_num, exc) from exc
    return SourceTable(path, columns, rows, used, delimiter)


def _check_header(columns: list[str]) -> None:
    """Raise ImportFileError naming a column that appears twice in the header (which one would be read?)."""
    first: dict[str, int] = {}
    for position, name in enumerate(columns, 1):
        if not name:
            continue
        if name in first:
            raise ImportFileError(
                f"header: column {name!r} appears twice (columns {first[name]} and {position}): rename one",
                field=name,
            )
        first[name] = position


def _quoting_error(start: int, stop: int, exc: csv.Error) -> ImportFileError:
    """The error for a row whose quoting is broken: its first line, and the lines an open quote swallowed."""
    if "unexpected end of data" in str(exc):
        where = "the end of the file" if stop <= start else f"the end of the file (line {stop})"
        message = (
            f"file: line {start}: a quoted value starting on this line is never closed (it runs to {where})"
        )
    elif stop > start:
        message = (
            f"file: line {start}: a quoted value opened in this row runs on to line {stop} and ends there "
            f"in the middle of a value ({exc}): an unclosed quote swallows the rows after it"
        )
    else:
        message = f"file: line {start}: badly quoted value ({exc}); double a quote inside a quoted value"
    return ImportFileError(message, field="file")


def _repair(value: str) -> str:
    # UTF-8 text once decoded as cp1252 ("poznaÅ„"): encode back and decode; keep it unless that round-trips.
    try:
        data = value.encode("cp1252")
    except UnicodeEncodeError:
        try:
            data = bytes(ord(ch) if ord(ch) < 256 else ch.encode("cp1252")[0] for ch in value)
        except UnicodeEncodeError:
            return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return value


_NO_FIXES: frozenset[str] = frozenset()


def clean_text(value: str) -> tuple[str, frozenset[str] | set[str]]:
    """Strip, normalise newlines, repair mojibake and remove control characters; returns (text, fixes)."""
    if value.isascii() and value.isprintable():
        return value.strip(), _NO_FIXES
    fixes: set[str] = set()
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _MOJIBAKE.search(value):
        repaired = _repair(value)
        if repaired != value:
            value = repaired
            fixes.add("text repaired (UTF-8 read as cp1252)")
    if _CONTROL.search(value):
        value = _CONTROL.sub("", value)
        fixes.add("control characters removed")
    return value.strip(), fixes
