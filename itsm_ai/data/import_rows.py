"""Rows to validated records: cells to field values by the mapping (with line numbers), the normalising of
values, and validation through the import schema (see `itsm_ai.data.importer`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from itsm_ai.data.import_mapping import list_adapter
from itsm_ai.data.import_report import ImportReport, ProgressFn, RowProblem
from itsm_ai.data.import_source import NEEDS_CLEANING, SourceTable, clean_text
from itsm_ai.ticket.models import SHORT_DESCRIPTION_MAX

DATETIME_FIELDS = ("opened_at", "resolved_at", "closed_at", "planned_start", "planned_end")
LEVEL_FIELDS = ("impact", "urgency")
ELLIPSIS = "…"
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_LEVEL_LABEL = re.compile(r"^\s*([123])\s*-")


@dataclass(slots=True)
class Candidate:
    """A row on its way in: its line, its field values, its source id and (ServiceNow) its history."""

    line: int
    data: dict[str, Any]
    correlation_id: str
    events: list[Any] | None = None


def _parse_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    match = _DAY_FIRST.match(value)
    if not match:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # anything else: the schema decides and reports it
        # The API refuses zoneless times; a file's zoneless times are UTC (see itsm_ai.data.importer).
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


class Preparer:
    """Normalises rows' raw values before schema validation (in place); see itsm_ai.data.importer.

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


def generic_candidates(
    table: SourceTable,
    mapping: dict[str, str],
    constants: dict[str, Any],
    report: ImportReport,
    progress: ProgressFn | None,
) -> list[Candidate]:
    """Rows of a generic CSV file to candidates by the mapping; a row without its id is reported as bad."""
    index = {name: i for i, name in enumerate(table.columns)}
    mapped = [(fieldname, index[column]) for fieldname, column in mapping.items()]
    width = len(table.columns)
    has_id = "correlation_id" in mapping or "correlation_id" in constants
    seen_hashes: Counter[str] = Counter()
    out: list[Candidate] = []
    total = len(table.rows)
    special = NEEDS_CLEANING.search
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
        out.append(Candidate(line, data, str(cid)))
        if progress is not None and n % 5000 == 0:
            progress("read", n, total)
    return out


def servicenow_candidates(
    table: SourceTable,
    mapping: dict[str, str],
    constants: dict[str, Any],
    report: ImportReport,
) -> list[Candidate]:
    """A ServiceNow incident event log to one candidate per incident, with its history as events."""
    from itsm_ai.data import servicenow

    rows = []
    for line, cells in table.rows:
        joined = "".join(cells)
        if joined.isascii() and joined.isprintable():
            # Most rows have nothing to clean: one check for the whole row instead of one call per cell.
            rows.append((line, [cell.strip() for cell in cells]))
            continue
        cleaned = []
        for cell in cells:
            value, fixes = clean_text(cell) if cell else ("", ())
            for fix in fixes:
                report.note(fix, line)
            cleaned.append(value)
        rows.append((line, cleaned))
    notes: list[servicenow.SnProblem] = []
    incidents, problems, _ = servicenow.collapse(table.columns, rows, notes)
    report.bad.extend(RowProblem(p.line, p.field, p.message) for p in problems)
    for note in notes:
        report.note(f"{note.field}: {note.message}", note.line)
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
            Candidate(
                incident.line, data, str(data.get("correlation_id") or incident.number), incident.events
            )
        )
    return out


def validate_candidates(
    candidates: list[Candidate], record_type: str, report: ImportReport, progress: ProgressFn | None
) -> tuple[list[Candidate], list[BaseModel]]:
    """Validate every candidate through the import schema; bad ones are reported and dropped."""
    adapter = list_adapter(record_type)
    good_candidates: list[Candidate] = []
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
