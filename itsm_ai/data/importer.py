"""Bulk import of tickets from CSV files (generic column mapping, or a ServiceNow incident event log).

How a file becomes records:

- Reading: the bytes are decoded as UTF-8 (a BOM is dropped); a file that is not valid UTF-8 is decoded as
  cp1252, and failing that as latin-1, for the whole file. NULs and other control characters (except tab and
  newline) are removed from values, newlines are normalised to "\\n", and UTF-8 text that was once mis-decoded
  as cp1252 ("donâ€™t") is repaired when the repair round-trips exactly. `.gz` files are read transparently.
  The delimiter (`,` `;` tab or `|`) is taken from the header line. Line numbers are those of the file (a
  quoted value spanning lines counts its lines); a row is reported at the line it starts on.
- Mapping: `mapping` maps a field of the record type's Create schema (or `extra.<key>`, or an import-only
  field: `resolved_at`, `closed_at`, and for incidents `reopen_count`, `reassignment_count`) to a column;
  `constants` gives every row a value (it wins over a mapped column). Empty cells are "not given", so schema
  defaults apply. Impact and urgency accept "2 - Medium"; incident states accept ServiceNow's names ("Awaiting
  User Info" -> on_hold with on_hold_reason awaiting_caller); times accept ISO 8601 and dd-mm-yyyy HH:MM (day
  first); times without a zone are UTC.
- Short descriptions: one longer than the column (255 characters) is cut at a word boundary and marked with
  "…"; the full text goes to `description` when the row has none, else to `extra.full_short_description`, so
  nothing is lost. An empty short description is taken from the first line of the description. Both are
  counted in the report's notes.
- Identity: `correlation_id` holds the source's id (`mapping["correlation_id"]`, `id_column`, or the
  ServiceNow `number`). A file without one gets a stable content hash per row (`row-<hash>`, `-2`, `-3`, ...
  for repeated identical rows), so importing the same file again creates nothing new: rows whose
  correlation_id is already stored are skipped and counted as skipped.
- Validation: every row goes through the API's Create schema (e.g. `IncidentCreate`, extended by the
  import-only fields), so what the API refuses is refused here, reported with the row's line number and the
  field. References to people and groups are created when missing (password-less requesters; assignees become
  agents); references to records (problem, duplicate_of, catalog_item, configuration_items) must exist.
- Writing: only when no row is bad (or with `skip_bad`, only the good rows), in one transaction: nothing is
  half-written, and nothing stored is changed. Records are inserted in batches with one executemany (SQLite)
  or COPY (PostgreSQL) per batch, numbers are allocated once per batch, and each record gets one audit event
  (action "import", source "import") plus, for a ServiceNow log, one event per tracked change in its history.
- Imports carry the source's lifecycle as it is: states are not checked against the transition table (a closed
  ticket from another tool may lack our resolution fields), priority is derived from impact x urgency as on
  every create, and a resolved or closed row without its time gets the import time.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from itertools import repeat
from json.encoder import encode_basestring
from operator import attrgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model
from sqlalchemy import JSON, Table, insert, select, text
from sqlalchemy.orm import Session

from itsm_ai.asset.models import Asset, record_cis
from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.enums import Role
from itsm_ai.auth.models import User
from itsm_ai.database import UTCDateTime, utcnow
from itsm_ai.errors import InvalidInputError
from itsm_ai.group.models import Group
from itsm_ai.records import counters
from itsm_ai.records.spec import RecordSpec
from itsm_ai.ticket.models import SHORT_DESCRIPTION_MAX
from itsm_ai.workflow.priority import compute_priority

BATCH_SIZE = 2000
ProgressFn = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "read", "validate" or "write"."""

IMPORT_ONLY_FIELDS: dict[str, tuple[Any, Any]] = {
    "resolved_at": (datetime | None, Field(default=None)),
    "closed_at": (datetime | None, Field(default=None)),
}
INCIDENT_IMPORT_ONLY_FIELDS: dict[str, tuple[Any, Any]] = {
    "reopen_count": (int, Field(default=0, ge=0)),
    "reassignment_count": (int, Field(default=0, ge=0)),
}
DATETIME_FIELDS = ("opened_at", "resolved_at", "closed_at", "planned_start", "planned_end")
LEVEL_FIELDS = ("impact", "urgency")
# User references that are created when missing, with the role a new user gets.
USER_REF_ROLES = {"caller": Role.requester, "assigned_to": Role.agent}
GROUP_REFS = ("assignment_group",)
USERNAME_MAX = User.__table__.c.username.type.length
GROUP_NAME_MAX = Group.__table__.c.name.type.length
ELLIPSIS = "…"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What makes an ASCII row need clean_text: a control character or a carriage return (the unit separator \x1f
# joins a row's cells for this check, so it is allowed).
_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1e\x7f]")
# A UTF-8 lead byte read as cp1252/latin-1 (Â..ô) followed by a continuation byte read the same way.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013-\u203a\u20ac\u2122]"
)
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_LEVEL_LABEL = re.compile(r"^\s*([123])\s*-")


# ------------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class RowProblem:
    """A bad row: its line number in the file, the field (or column) and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    """What an import read, stored, skipped and refused."""

    path: str
    record_type: str
    source_format: str
    encoding: str = "utf-8"
    rows: int = 0
    records: int = 0
    imported: int = 0
    skipped: int = 0
    bad: list[RowProblem] = field(default_factory=list)
    bad_rows: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    note_lines: dict[str, list[int]] = field(default_factory=dict)
    users_created: int = 0
    groups_created: int = 0
    audit_events: int = 0
    first_number: str | None = None
    last_number: str | None = None
    dry_run: bool = False
    written: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no row was refused."""
        return not self.bad

    def note(self, kind: str, line: int) -> None:
        """Count a non-fatal fix-up of a row (kept with the first few line numbers)."""
        self.notes[kind] += 1
        lines = self.note_lines.setdefault(kind, [])
        if len(lines) < 5 and (not lines or lines[-1] != line):
            lines.append(line)

    def summary(self) -> str:
        """One line: imported / skipped / bad counts."""
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{verb} {self.imported} {self.record_type} records, skipped {self.skipped} already imported, "
            f"{self.bad_rows} bad rows ({self.rows} rows read, {self.records} records)"
        )


class ImportFileError(InvalidInputError):
    """The file or the options cannot be used at all (missing file, unknown column or field)."""


@dataclass(slots=True)
class _Candidate:
    line: int
    data: dict[str, Any]
    correlation_id: str
    events: list[Any] | None = None


# ------------------------------------------------------------------------------------------------ reading


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
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"file: {path} is empty", field="file") from None
    columns = [c.strip() for c in header]
    if not any(columns):
        raise ImportFileError(f"file: {path} has no header row", field="file")
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
        raise ImportFileError(f"file: line {reader.line_num}: {exc}", field="file") from exc
    return SourceTable(path, columns, rows, used, delimiter)


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


# ------------------------------------------------------------------------------------------------ schema


def ticket_spec(record_type: str) -> RecordSpec:
    """The spec of an importable ticket type (incident, problem, change, service_request or its API path)."""
    from itsm_ai.ticket.service import TICKET_SPECS

    specs = dict(TICKET_SPECS)
    for spec in TICKET_SPECS.values():
        specs.setdefault(spec.path, spec)
    key = record_type.strip().lower().replace("-", "_")
    if key not in specs:
        names = ", ".join(TICKET_SPECS)
        raise ImportFileError(f"type: cannot import {record_type!r}; one of {names}", field="type")
    return specs[key]


@lru_cache
def import_schema(record_type: str) -> type[BaseModel]:
    """The record type's Create schema plus the import-only fields (resolved_at, closed_at, counts)."""
    spec = ticket_spec(record_type)
    extra = dict(IMPORT_ONLY_FIELDS)
    if spec.record_type == "incident":
        extra.update(INCIDENT_IMPORT_ONLY_FIELDS)
    return create_model(f"{spec.create_schema.__name__}Import", __base__=spec.create_schema, **extra)


@lru_cache
def _list_adapter(record_type: str) -> TypeAdapter:
    return TypeAdapter(list[import_schema(record_type)])


def importable_fields(record_type: str) -> list[str]:
    """Field names accepted in a mapping or constant (plus extra.<key>)."""
    return list(import_schema(record_type).model_fields)


def check_fields(record_type: str, names: Iterable[str], option: str) -> None:
    """Raise ImportFileError naming the first field the record type does not have."""
    known = set(importable_fields(record_type))
    for name in names:
        if name.startswith("extra.") and len(name) > len("extra."):
            continue
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImportFileError(
                f"{option}: unknown field {name!r} for {record_type}{hint}; fields: "
                f"{', '.join(sorted(known))}, extra.<key>",
                field=name,
            )


# ------------------------------------------------------------------------------------------------ preparing


def _parse_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = _DAY_FIRST.match(value)
    if not match:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # anything else: the schema decides and reports it
        # The API refuses zoneless times; a file's zoneless times are UTC (see the module docstring).
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return value


def _truncate(text_value: str, limit: int) -> str:
    cut = text_value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


@lru_cache
def _state_aliases(record_type: str) -> dict[str, tuple[str, str | None]]:
    from itsm_ai.workflow.replay import STATE_MAP

    if record_type != "incident":
        return {}
    return {
        name.lower(): (state.value, reason.value if reason else None)
        for name, (state, reason) in STATE_MAP.items()
    }


class _Preparer:
    """Normalises rows' raw values before schema validation (in place); see the module docstring.

    Built once per import from the fields the rows can carry, so a row only pays for the steps that apply.
    """

    def __init__(self, fields: Iterable[str], record_type: str, report: ImportReport):
        names = set(fields)
        self.report = report
        self.extra = any(n.startswith("extra.") for n in names)
        self.levels = [n for n in LEVEL_FIELDS if n in names]
        self.state = "state" in names
        self.aliases = _state_aliases(record_type)
        self.times = [n for n in DATETIME_FIELDS if n in names]
        self.cis = "configuration_items" in names
        self.json = [n for n in ("extra", "variables") if n in names]

    def __call__(self, data: dict[str, Any], line: int) -> None:
        report = self.report
        for name in self.json:
            value = data.get(name)
            if isinstance(value, str):
                # A column holding a JSON object; anything else is left for the schema to refuse.
                try:
                    data[name] = json.loads(value)
                except ValueError:
                    pass
        if self.extra:
            extra_keys = [k for k in data if k.startswith("extra.")]
            if extra_keys and isinstance(data.get("extra") or {}, dict):
                extra = dict(data.get("extra") or {})
                for key in extra_keys:
                    extra[key[len("extra.") :]] = data.pop(key)
                data["extra"] = extra
        short = data.get("short_description")
        if not short and data.get("description"):
            short = data["description"].split("\n", 1)[0].strip()
            data["short_description"] = short
            report.note("short_description was empty: first line of the description used", line)
        if isinstance(short, str) and len(short) > SHORT_DESCRIPTION_MAX:
            data["short_description"] = _truncate(short, SHORT_DESCRIPTION_MAX)
            if not data.get("description"):
                data["description"] = short
                report.note("short_description cut to 255 characters (full text in description)", line)
            elif isinstance(data.get("extra") or {}, dict):
                extra = dict(data.get("extra") or {})
                extra["full_short_description"] = short
                data["extra"] = extra
                report.note("short_description cut to 255 characters (full text in extra)", line)
        for name in self.levels:
            value = data.get(name)
            if isinstance(value, str) and len(value) > 1:
                match = _LEVEL_LABEL.match(value)
                if match:
                    data[name] = int(match.group(1))
        if self.state:
            state = data.get("state")
            if isinstance(state, str):
                key = state.strip().lower()
                if key in self.aliases:
                    data["state"], reason = self.aliases[key]
                    if reason and not data.get("on_hold_reason"):
                        data["on_hold_reason"] = reason
                elif key != state or " " in key:
                    data["state"] = key.replace(" ", "_")
        for name in self.times:
            if name in data:
                data[name] = _parse_time(data[name])
        if self.cis:
            cis = data.get("configuration_items")
            if isinstance(cis, str):
                data["configuration_items"] = [p.strip() for p in re.split(r"[;,]", cis) if p.strip()]


def _generic_candidates(
    table: SourceTable,
    mapping: dict[str, str],
    constants: dict[str, Any],
    report: ImportReport,
    progress: ProgressFn | None,
) -> list[_Candidate]:
    index = {name: i for i, name in enumerate(table.columns)}
    mapped = [(fieldname, index[column]) for fieldname, column in mapping.items()]
    width = len(table.columns)
    has_id = "correlation_id" in mapping or "correlation_id" in constants
    seen_hashes: Counter[str] = Counter()
    out: list[_Candidate] = []
    total = len(table.rows)
    special = _NEEDS_CLEANING.search
    for n, (line, cells) in enumerate(table.rows, 1):
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width and any(c.strip() for c in cells[width:]):
            report.bad.append(
                RowProblem(line, "row", f"has {len(cells)} values but the header has {width} columns")
            )
            continue
        joined = "\x1f".join(cells)
        if joined.isascii() and not special(joined):
            # The common case: plain text, only surrounding blanks to strip.
            data: dict[str, Any] = {f: v for f, i in mapped if (v := cells[i].strip())}
        else:
            data = {}
            for fieldname, i in mapped:
                raw = cells[i]
                if raw:
                    value, fixes = clean_text(raw)
                    for fix in fixes:
                        report.note(fix, line)
                    if value:
                        data[fieldname] = value
        if constants:
            data.update(constants)
        if has_id:
            cid = data.get("correlation_id")
            if not cid:
                report.bad.append(RowProblem(line, "correlation_id", "the id column is empty"))
                continue
        else:
            digest = hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
            seen_hashes[digest] += 1
            k = seen_hashes[digest]
            cid = f"row-{digest}" if k == 1 else f"row-{digest}-{k}"
            data["correlation_id"] = cid
        out.append(_Candidate(line, data, str(cid)))
        if progress is not None and n % 5000 == 0:
            progress("read", n, total)
    return out


def _servicenow_candidates(
    table: SourceTable,
    mapping: dict[str, str],
    constants: dict[str, Any],
    report: ImportReport,
) -> list[_Candidate]:
    from itsm_ai.data import servicenow

    rows = []
    for line, cells in table.rows:
        cleaned = []
        for cell in cells:
            value, fixes = clean_text(cell) if cell else ("", ())
            for fix in fixes:
                report.note(fix, line)
            cleaned.append(value)
        rows.append((line, cleaned))
    incidents, problems, _ = servicenow.collapse(table.columns, rows)
    report.bad.extend(RowProblem(p.line, p.field, p.message) for p in problems)
    by_line = dict(rows)
    index = {name: i for i, name in enumerate(table.columns)}
    out = []
    for incident in incidents:
        data = incident.data
        if mapping:
            cells = by_line[incident.line]
            for fieldname, column in mapping.items():
                i = index[column]
                value = cells[i] if i < len(cells) else ""
                if value and value != servicenow.EMPTY:
                    data[fieldname] = value
        data.update(constants)
        out.append(
            _Candidate(
                incident.line, data, str(data.get("correlation_id") or incident.number), incident.events
            )
        )
    return out


# ------------------------------------------------------------------------------------------------ validating


def _validate(
    candidates: list[_Candidate], record_type: str, report: ImportReport, progress: ProgressFn | None
) -> tuple[list[_Candidate], list[BaseModel]]:
    """Validate every candidate through the import schema; bad ones are reported and dropped."""
    adapter = _list_adapter(record_type)
    good_candidates: list[_Candidate] = []
    good_models: list[BaseModel] = []
    total = len(candidates)
    step = 20_000
    for start in range(0, total, step):
        chunk = candidates[start : start + step]
        payload = [c.data for c in chunk]
        try:
            models = adapter.validate_python(payload)
        except ValidationError as exc:
            bad_indexes: set[int] = set()
            for error in exc.errors(include_url=False):
                loc = error.get("loc", ())
                i = int(loc[0]) if loc and isinstance(loc[0], int) else 0
                bad_indexes.add(i)
                name = ".".join(str(p) for p in loc[1:]) or "row"
                message = error.get("msg", "invalid")
                value = error.get("input")
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    shown = repr(
                        value if not isinstance(value, str) or len(value) <= 60 else value[:57] + "..."
                    )
                    message = f"{message} (got {shown})"
                report.bad.append(RowProblem(chunk[i].line, name, message))
            keep = [c for i, c in enumerate(chunk) if i not in bad_indexes]
            models = adapter.validate_python([c.data for c in keep]) if keep else []
            chunk = keep
        good_candidates.extend(chunk)
        good_models.extend(models)
        if progress is not None:
            progress("validate", min(start + step, total), total)
    return good_candidates, good_models


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(db_session: Session, column, values: Iterable[str]) -> set[str]:
    # A table without any correlation id (a first import) needs no lookups: one indexed probe says so.
    if db_session.execute(select(column).where(column.isnot(None)).limit(1)).first() is None:
        return set()
    found: set[str] = set()
    distinct = sorted(set(values))
    for chunk in _chunks(distinct):
        found.update(db_session.scalars(select(column).where(column.in_(chunk))))
    return found


def _lookup(db_session: Session, model, key: str, values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    column = getattr(model, key)
    for chunk in _chunks(sorted(set(values))):
        out.update(dict(db_session.execute(select(column, model.id).where(column.in_(chunk))).all()))
    return out


@dataclass
class _Refs:
    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    new_users: dict[str, Role] = field(default_factory=dict)
    new_groups: dict[str, None] = field(default_factory=dict)


def _check_refs(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[_Candidate],
    models: list[BaseModel],
    report: ImportReport,
) -> tuple[list[_Candidate], list[BaseModel], _Refs]:
    """Resolve references: people and groups are looked up (missing ones are created), records must exist."""
    refs = _Refs()
    problems: list[RowProblem] = []
    # Column-wise: one list of values per reference field, one lookup per distinct value.
    columns = {name: [getattr(m, name) for m in models] for name in spec.refs}
    people = [n for n in USER_REF_ROLES if n in columns]
    usernames = {v for n in people for v in columns[n] if v}
    refs.users = _lookup(db_session, User, "username", usernames)
    groups = [n for n in GROUP_REFS if n in columns]
    group_names = {v for n in groups for v in columns[n] if v}
    refs.groups = _lookup(db_session, Group, "name", group_names)
    for name in people:
        role = USER_REF_ROLES[name]
        for k, value in enumerate(columns[name]):
            if value and value not in refs.users:
                if len(value) > USERNAME_MAX:
                    problems.append(
                        RowProblem(candidates[k].line, name, f"longer than {USERNAME_MAX} characters")
                    )
                elif role == Role.agent or value not in refs.new_users:
                    refs.new_users[value] = role
    for name in groups:
        for k, value in enumerate(columns[name]):
            if value and value not in refs.groups:
                if len(value) > GROUP_NAME_MAX:
                    problems.append(
                        RowProblem(candidates[k].line, name, f"longer than {GROUP_NAME_MAX} characters")
                    )
                else:
                    refs.new_groups[value] = None
    for name, ref in spec.refs.items():
        if name in USER_REF_ROLES or name in GROUP_REFS:
            continue
        wanted = {v for v in columns[name] if v}
        found = refs.records[name] = _lookup(db_session, ref.target, ref.key, wanted) if wanted else {}
        for k, value in enumerate(columns[name]):
            if value and value not in found:
                problems.append(RowProblem(candidates[k].line, name, f"no {ref.noun} {value!r}"))
    if "configuration_items" in type(models[0]).model_fields if models else False:
        cis = [m.configuration_items for m in models]
        wanted_assets = {a for names in cis for a in names}
        if wanted_assets:
            refs.assets = _lookup(db_session, Asset, "name", wanted_assets)
            missing = wanted_assets - set(refs.assets)
            if missing:
                refs.assets.update(_lookup(db_session, Asset, "number", missing))
            for k, names in enumerate(cis):
                for asset in names:
                    if asset not in refs.assets:
                        problems.append(
                            RowProblem(candidates[k].line, "configuration_items", f"no asset {asset!r}")
                        )
    if not problems:
        return candidates, models, refs
    report.bad.extend(problems)
    bad_lines = {p.line for p in problems}
    keep = [k for k, c in enumerate(candidates) if c.line not in bad_lines]
    return [candidates[k] for k in keep], [models[k] for k in keep], refs


# ------------------------------------------------------------------------------------------------ writing


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime text ("2016-02-29 01:16:00.000000") of the UTC time, without copies.
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class _BulkWriter:
    """Inserts prepared rows into one table: executemany of the compiled INSERT (SQLite) or COPY (PostgreSQL).

    Values come already in the driver's form (UTC datetimes as the dialect stores them, JSON as text), so no
    per-value SQLAlchemy type processing runs: on SQLite that processing costs as much as the insert itself.
    """

    def __init__(self, db_session: Session, table: Table, columns: Sequence[str]):
        self.connection = db_session.connection()
        self.dialect = self.connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.table = table
        self.columns = list(columns)
        if self.postgres:
            quote = self.dialect.identifier_preparer.quote
            self.sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in self.columns)}) FROM STDIN"
        else:
            compiled = insert(table).compile(dialect=self.dialect, column_keys=self.columns)
            if list(compiled.positiontup or ()) != self.columns:
                raise RuntimeError(f"unexpected parameter order for {table.name}")
            self.sql = str(compiled)

    def time(self, value: datetime | None) -> Any:
        """A UTC datetime in the form the dialect stores (SQLite: text; PostgreSQL: naive timestamp)."""
        if value is None:
            return None
        if self.postgres:
            return _utc(value).replace(tzinfo=None)
        return _sqlite_time(value)

    def times(self, values: Iterable[datetime | None]) -> list[Any]:
        """Many datetimes in the dialect's stored form (None stays None)."""
        if self.postgres:
            return [None if v is None else _utc(v).replace(tzinfo=None) for v in values]
        # Many values are the same object (the import time), so each distinct one is formatted once.
        memo: dict[datetime, str] = {}
        return [None if v is None else memo.get(v) or memo.setdefault(v, _sqlite_time(v)) for v in values]

    def write(self, rows: list[tuple]) -> None:
        """Insert the rows (tuples in column order)."""
        if not rows:
            return
        if self.postgres:
            raw = self.connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            self.connection.exec_driver_sql(self.sql, rows)


def _reserve_ids(db_session: Session, table: Table, count: int) -> list[int]:
    """Ids for `count` new rows, taken before the insert so audit rows can point at them."""
    connection = db_session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count},
        )
        return [r[0] for r in rows]
    # SQLite: the number allocation before this took the database's write lock, so max(id) cannot move.
    top = connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {table.name}")).scalar_one()
    return list(range(top + 1, top + 1 + count))


def _create_people(db_session: Session, refs: _Refs, report: ImportReport) -> None:
    """Create missing users and groups in bulk, as ensure_user / group.ensure would (one query per batch)."""
    now = utcnow()
    connection = db_session.connection()
    if refs.new_users:
        rows = [
            {
                "username": name,
                "role": role,
                "active": True,
                "hashed_password": None,
                "created_at": now,
                "version": 1,
            }
            for name, role in refs.new_users.items()
        ]
        for chunk in _chunks(rows, BATCH_SIZE):
            connection.execute(insert(User.__table__), list(chunk))
        refs.users.update(_lookup(db_session, User, "username", refs.new_users))
        report.users_created = len(refs.new_users)
    if refs.new_groups:
        rows = [{"name": name, "active": True, "created_at": now, "version": 1} for name in refs.new_groups]
        for chunk in _chunks(rows, BATCH_SIZE):
            connection.execute(insert(Group.__table__), list(chunk))
        refs.groups.update(_lookup(db_session, Group, "name", refs.new_groups))
        report.groups_created = len(refs.new_groups)


@lru_cache
def _column_defaults(table: Table) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is not None and default.is_scalar:
            value = default.arg
            defaults[column.name] = value.value if isinstance(value, Enum) else value
        else:
            defaults[column.name] = None
    return defaults


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


_PRIORITIES = {(i, u): int(compute_priority(i, u)) for i in (1, 2, 3) for u in (1, 2, 3)}


def _write(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[_Candidate],
    models: list[BaseModel],
    refs: _Refs,
    report: ImportReport,
    actor,
    batch_size: int,
    progress: ProgressFn | None,
) -> None:
    """Insert the records, their audit events and CI links in batches (rows are built column by column)."""
    table: Table = spec.model.__table__
    columns = [c.name for c in table.columns]
    column_set = set(columns)
    writer = _BulkWriter(db_session, table, columns)
    audit_columns = [c.name for c in AuditEvent.__table__.columns if c.name != "id"]
    audit_writer = _BulkWriter(db_session, AuditEvent.__table__, audit_columns)
    links_writer = _BulkWriter(db_session, record_cis, ["record_type", "record_id", "asset_id"])
    defaults = _column_defaults(table)
    schema_fields = [n for n in type(models[0]).model_fields if n in column_set and n not in spec.refs]
    time_fields = [n for n in schema_fields if isinstance(table.c[n].type, UTCDateTime)]
    json_fields = [n for n in schema_fields if isinstance(table.c[n].type, JSON)]
    plain_fields = [n for n in schema_fields if n not in time_fields and n not in json_fields]
    actor_id, actor_name = (actor.id, actor.username) if actor is not None else (None, "system")
    now = utcnow()
    now_db = writer.time(now)
    quoted_file = encode_basestring(Path(report.path).name)
    record_type = spec.record_type
    has_cis = "configuration_items" in type(models[0]).model_fields
    total = len(models)
    for start in range(0, total, batch_size):
        batch_c = candidates[start : start + batch_size]
        batch = models[start : start + batch_size]
        n = len(batch)
        first = counters.allocate_numbers(db_session=db_session, record_type=record_type, count=n)
        ids = _reserve_ids(db_session, table, n)
        numbers = [counters.format_number(spec.prefix, first + k) for k in range(n)]
        cols: dict[str, list[Any]] = {"id": ids, "number": numbers}
        # States and reasons are StrEnums: sqlite3 and psycopg store them as their text value as they are.
        for name in plain_fields:
            cols[name] = list(map(attrgetter(name), batch))
        for name in json_fields:
            cols[name] = [
                json.dumps(v, default=str, ensure_ascii=False) if v else None
                for v in map(attrgetter(name), batch)
            ]
        for name, ref in spec.refs.items():
            if name in USER_REF_ROLES:
                lookup = refs.users
            elif name in GROUP_REFS:
                lookup = refs.groups
            else:
                lookup = refs.records[name]
            cols[ref.fk] = [lookup[v] if v else None for v in map(attrgetter(name), batch)]
        times = {name: list(map(attrgetter(name), batch)) for name in time_fields}
        times["opened_at"] = [v or now for v in times["opened_at"]]
        # A resolved or closed ticket without its times gets the import time, as an API create would.
        states = cols["state"]
        resolved = times.get("resolved_at") or [None] * n
        closed = times.get("closed_at") or [None] * n
        for k, state in enumerate(states):
            if state == "closed":
                closed[k] = closed[k] or now
                resolved[k] = resolved[k] or closed[k]
            elif state == "resolved":
                resolved[k] = resolved[k] or now
        times["resolved_at"], times["closed_at"] = resolved, closed
        for name, values in times.items():
            cols[name] = writer.times(values)
        if record_type == "service_request":
            # As the API does: the catalog item's name, else a generic title.
            cols["short_description"] = [
                s or m.catalog_item or "Service request"
                for s, m in zip(cols["short_description"], batch, strict=True)
            ]
        cols["priority"] = [_PRIORITIES[p] for p in zip(cols["impact"], cols["urgency"], strict=True)]
        for name in ("created_at", "updated_at"):
            cols[name] = [now_db] * n
        cols["version"] = [1] * n
        rows = list(zip(*(cols[c] if c in cols else repeat(defaults[c], n) for c in columns), strict=False))
        audit_rows: list[tuple] = []
        for k, candidate in enumerate(batch_c):
            for event in candidate.events or ():
                audit_rows.append(
                    (
                        record_type,
                        ids[k],
                        "update",
                        event.field,
                        None if event.old is None else str(_plain(event.old)),
                        None if event.new is None else str(_plain(event.new)),
                        None,
                        event.actor_name,
                        "import",
                        False,
                        writer.time(event.at),
                    )
                )
        # One "import" event per record saying where it came from; the JSON is assembled directly (per row).
        audit_rows.extend(
            zip(
                repeat(record_type),
                ids,
                repeat("import"),
                repeat(None),
                repeat(None),
                [
                    f'{{"correlation_id": {encode_basestring(c.correlation_id)}, "file": {quoted_file}, '
                    f'"line": {c.line}, "number": "{number}"}}'
                    for c, number in zip(batch_c, numbers, strict=True)
                ],
                repeat(actor_id),
                repeat(actor_name),
                repeat("import"),
                repeat(False),
                repeat(now_db),
            )
        )
        writer.write(rows)
        audit_writer.write(audit_rows)
        if has_cis:
            links = [
                (record_type, record_id, refs.assets[asset])
                for record_id, m in zip(ids, batch, strict=True)
                for asset in dict.fromkeys(m.configuration_items)
            ]
            links_writer.write(links)
        report.imported += n
        report.audit_events += len(audit_rows)
        if start == 0:
            report.first_number = numbers[0]
        report.last_number = numbers[-1]
        if progress is not None:
            progress("write", start + n, total)


# ------------------------------------------------------------------------------------------------ entry point


def detect_format(columns: Sequence[str]) -> str:
    """ "servicenow" for a ServiceNow incident event log header, else "generic"."""
    from itsm_ai.data.servicenow import looks_like_servicenow

    return "servicenow" if looks_like_servicenow(columns) else "generic"


def _check_columns(table: SourceTable, mapping: dict[str, str]) -> None:
    known = set(table.columns)
    for fieldname, column in mapping.items():
        if column not in known:
            import difflib

            close = difflib.get_close_matches(column, table.columns, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImportFileError(
                f"map: {fieldname}={column}: the file has no column {column!r}{hint}; columns: "
                + ", ".join(repr(c) for c in table.columns),
                field=column,
            )


def import_csv(
    *,
    path: str | Path,
    record_type: str = "incident",
    mapping: dict[str, str] | None = None,
    constants: dict[str, Any] | None = None,
    id_column: str | None = None,
    source_format: str = "auto",
    encoding: str = "auto",
    skip_bad: bool = False,
    dry_run: bool = False,
    db_session: Session | None = None,
    db_session_factory: Callable[[], AbstractContextManager[Session]] | None = None,
    progress: ProgressFn | None = None,
    actor=None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import a CSV file as tickets; bad rows are reported with line numbers and then nothing is written.

    With `db_session` the caller owns the transaction (and must roll it back if this raises); otherwise a
    session from `db_session_factory` (default `get_session`) is opened and committed here.
    """
    started = time.perf_counter()
    spec = ticket_spec(record_type)
    mapping = dict(mapping or {})
    constants = dict(constants or {})
    if id_column:
        mapping["correlation_id"] = id_column
    check_fields(spec.record_type, mapping, "map")
    check_fields(spec.record_type, constants, "set")
    if source_format not in ("auto", "generic", "servicenow"):
        raise ImportFileError(
            f"format: must be auto, generic or servicenow, not {source_format!r}", field="format"
        )
    table = read_table(path, encoding=encoding)
    fmt = detect_format(table.columns) if source_format == "auto" else source_format
    if fmt == "servicenow" and spec.record_type != "incident":
        raise ImportFileError(
            "format: a ServiceNow incident log can only be imported as incidents", field="type"
        )
    _check_columns(table, mapping)
    report = ImportReport(
        path=str(path),
        record_type=spec.record_type,
        source_format=fmt,
        encoding=table.encoding,
        dry_run=dry_run,
    )
    report.rows = len(table.rows)
    if progress is not None:
        progress("read", 0, report.rows)
    if fmt == "servicenow":
        try:
            candidates = _servicenow_candidates(table, mapping, constants, report)
        except ValueError as exc:
            raise ImportFileError(f"format: {exc}", field="format") from exc
    else:
        if "short_description" not in mapping and "short_description" not in constants:
            if spec.record_type != "service_request":
                raise ImportFileError(
                    "map: short_description is required: give --map short_description=COLUMN "
                    f"(columns: {', '.join(repr(c) for c in table.columns)})",
                    field="short_description",
                )
        candidates = _generic_candidates(table, mapping, constants, report, progress)
    if progress is not None:
        progress("read", report.rows, report.rows)
    prepare = _Preparer([*mapping, *constants], spec.record_type, report)
    for candidate in candidates:
        prepare(candidate.data, candidate.line)
    report.records = len(candidates)
    candidates, models = _validate(candidates, spec.record_type, report, progress)

    factory = db_session_factory
    if db_session is None and factory is None:
        from itsm_ai.database import get_session

        factory = get_session
    if db_session is not None:
        _run(db_session, spec, candidates, models, report, skip_bad, dry_run, actor, batch_size, progress)
    else:
        assert factory is not None
        with factory() as session:
            _run(session, spec, candidates, models, report, skip_bad, dry_run, actor, batch_size, progress)
    report.bad.sort(key=lambda p: (p.line, p.field))
    report.bad_rows = len({p.line for p in report.bad})
    report.seconds = time.perf_counter() - started
    return report


def _run(
    db_session: Session,
    spec: RecordSpec,
    candidates: list[_Candidate],
    models: list[BaseModel],
    report: ImportReport,
    skip_bad: bool,
    dry_run: bool,
    actor,
    batch_size: int,
    progress: ProgressFn | None,
) -> None:
    candidates, models, refs = _check_refs(db_session, spec, candidates, models, report)
    # Skip what is already stored, and repeats of an id inside the file (the first occurrence wins).
    stored = _existing(db_session, spec.model.correlation_id, (c.correlation_id for c in candidates))
    seen: dict[str, int] = {}
    keep_c: list[_Candidate] = []
    keep_m: list[BaseModel] = []
    for candidate, model in zip(candidates, models, strict=True):
        cid = candidate.correlation_id
        if cid in stored:
            report.skipped += 1
        elif cid in seen:
            report.skipped += 1
            report.note(
                f"repeated correlation_id in the file (first at line {seen[cid]}): skipped", candidate.line
            )
        else:
            seen[cid] = candidate.line
            keep_c.append(candidate)
            keep_m.append(model)
    if report.bad and not skip_bad:
        return
    if dry_run or not keep_m:
        report.imported = len(keep_m) if dry_run else 0
        report.users_created = len(refs.new_users)
        report.groups_created = len(refs.new_groups)
        return
    # Only users and groups that a kept row refers to.
    used_users = {v for m in keep_m for name in USER_REF_ROLES if (v := m.__dict__.get(name))}
    used_groups = {v for m in keep_m for name in GROUP_REFS if (v := m.__dict__.get(name))}
    refs.new_users = {k: r for k, r in refs.new_users.items() if k in used_users}
    refs.new_groups = {g: None for g in refs.new_groups if g in used_groups}
    with _bulk_settings(db_session):
        _create_people(db_session, refs, report)
        _write(db_session, spec, keep_c, keep_m, refs, report, actor, batch_size, progress)
    db_session.flush()
    report.written = True


SQLITE_IMPORT_CACHE_KIB = 65536


@contextmanager
def _bulk_settings(db_session: Session) -> Iterator[None]:
    """SQLite: a 64 MiB page cache for this connection while importing (restored after).

    A ticket table has a dozen indexes; with the default 2 MiB cache their pages are evicted and re-read for
    every batch, which costs about a third of the insert time at 100k rows.
    """
    connection = db_session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(previous)}")
