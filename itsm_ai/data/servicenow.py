"""Collapse a ServiceNow incident event log (one row per update) into one incident each, with its history.

The format is the one of `../shared/data/servicenow_incident_event_log.csv` (the UCI "Incident management
process enriched event log"): columns `number`, `incident_state`, `sys_updated_at`, `sys_updated_by`,
`opened_at`, `resolved_at`, `closed_at` (dd-mm-yyyy HH:MM, or d/m/yyyy in the full UCI file), `category`,
`subcategory`, `u_symptom`, `cmdb_ci`, `impact`/`urgency`/`priority` ("2 - Medium"), `assignment_group`,
`assigned_to`, `caller_id`, `location`, ...; "?" means empty. Times carry no zone and are read as UTC.

The full UCI file (`servicenow_incident_event_log_full.csv.gz`) strips the id prefixes ("Group 56" is 56,
"INC0000045" is 0000045, "2 - Medium" is 2): a bare number gets its column's prefix back (`ID_PREFIXES`), so
both files give the same names and numbers. Its `incident_state` -100 (on 5 rows) is no state at all: such a
row keeps the incident's previous state (its other fields still count) and is noted in the report.

Per incident the rows are ordered by `sys_updated_at`, then by file order (as `itsm_ai.workflow.replay` does);
the last row gives the incident's final values. Each row that changes a tracked field (state, on-hold reason,
assignment, impact, urgency, priority) becomes history events dated with its `sys_updated_at` and attributed
to its `sys_updated_by`. The export has no ticket text, so the short description is built from the symptom and
category ids it does have ("Symptom 72 (Category 55 / Subcategory 170)"). Everything without a column of its
own (`u_symptom`, `cmdb_ci`, `made_sla`, `rfc`, ...) goes into `extra`.

This module is pure: rows in, field values and history out. `itsm_ai.data.importer` validates and stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from itsm_ai.workflow.priority import compute_priority, level_from_label
from itsm_ai.workflow.replay import STATE_MAP

REQUIRED_COLUMNS = ("number", "incident_state", "sys_updated_at")
# Columns whose presence (with the required ones) marks a file as a ServiceNow incident export.
MARKER_COLUMNS = ("sys_updated_by", "opened_at", "impact", "urgency", "assignment_group", "caller_id")
EMPTY = "?"

# ServiceNow column -> our field, taken from the incident's last row.
DIRECT_FIELDS = {
    "category": "category",
    "subcategory": "subcategory",
    "assignment_group": "assignment_group",
    "assigned_to": "assigned_to",
    "caller_id": "caller",
    "location": "location",
}
# ServiceNow columns kept in `extra` (last row's value; "TRUE"/"FALSE" become booleans).
EXTRA_COLUMNS = (
    "u_symptom",
    "cmdb_ci",
    "contact_type",
    "made_sla",
    "knowledge",
    "u_priority_confirmation",
    "notify",
    "opened_by",
    "sys_created_by",
    "sys_created_at",
    "resolved_by",
    "problem_id",
    "rfc",
    "vendor",
    "caused_by",
    "active",
    "sys_mod_count",
)
# Fields whose changes between consecutive rows become audit events, in this order.
TRACKED_FIELDS = (
    "state",
    "on_hold_reason",
    "assignment_group",
    "assigned_to",
    "impact",
    "urgency",
    "priority",
)

# The prefix each id column has in the sample file; the full UCI file has the bare number.
ID_PREFIXES = {
    "caller_id": "Caller ",
    "opened_by": "Opened by  ",
    "sys_created_by": "Created by ",
    "sys_updated_by": "Updated by ",
    "location": "Location ",
    "category": "Category ",
    "subcategory": "Subcategory ",
    "u_symptom": "Symptom ",
    "cmdb_ci": "cmdb_ci ",
    "assignment_group": "Group ",
    "assigned_to": "Resolver ",
    "problem_id": "Problem ID  ",
    "rfc": "CHG",
    "caused_by": "CHG",
    "closed_code": "code ",
    "resolved_by": "Resolved by ",
}
# incident_state values that record no state: the row keeps the incident's previous state.
NO_STATE = frozenset({"-100"})

# dd-mm-yyyy HH:MM (the sample) or d/m/yyyy H:MM[:SS] (the full UCI file); a regular expression because
# strptime dominates the run time on the 141,712-row log.
_TIMESTAMP = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


@dataclass
class SnEvent:
    """One history event of an incident (becomes one audit row)."""

    at: datetime
    actor_name: str | None
    field: str
    old: Any
    new: Any


@dataclass
class SnIncident:
    """One incident collapsed from its event rows: final field values (unvalidated) and its history."""

    number: str
    line: int
    lines: list[int]
    data: dict[str, Any]
    events: list[SnEvent] = field(default_factory=list)


@dataclass(frozen=True)
class SnProblem:
    """A row that cannot be read: its line, the column and why."""

    line: int
    field: str
    message: str


def looks_like_servicenow(columns: Sequence[str]) -> bool:
    """True when the header is a ServiceNow incident event log (number, incident_state, sys_updated_at...)."""
    names = set(columns)
    return all(c in names for c in REQUIRED_COLUMNS) and sum(c in names for c in MARKER_COLUMNS) >= 3


@lru_cache(maxsize=65_536)
def parse_time(text: str) -> datetime | None:
    """A ServiceNow export time (dd-mm-yyyy HH:MM, no zone) as aware UTC, or None when it is not one."""
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC)
    except ValueError:
        return None


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return None if text in ("", EMPTY) else text


def _flag(text: str) -> Any:
    upper = text.upper()
    if upper == "TRUE":
        return True
    if upper == "FALSE":
        return False
    return int(text) if text.isdigit() else text


def _number(text: str) -> str:
    # The full UCI file strips the prefix ("0000045"); restore it so both files give the same ids.
    return f"INC{text}" if text.isdigit() else text


def _prefixed(row: dict[str, str | None]) -> None:
    """Give bare numbers in id columns their prefix back (the full UCI file strips them)."""
    for column, prefix in ID_PREFIXES.items():
        value = row.get(column)
        if value is not None and value.isdigit():
            row[column] = prefix + value


@dataclass
class _Row:
    line: int
    order: int
    updated_at: datetime
    values: dict[str, str | None]
    state: str | None
    on_hold_reason: str | None
    impact: int | None
    urgency: int | None


def _level(row: dict[str, str | None], column: str, line: int, problems: list[SnProblem]) -> int | None:
    text = row.get(column)
    if text is None:
        return None
    try:
        level = level_from_label(text)
    except ValueError:
        problems.append(SnProblem(line, column, f"{text!r} is not a level like '2 - Medium'"))
        return None
    if level not in (1, 2, 3):
        problems.append(SnProblem(line, column, f"{text!r}: must be 1, 2 or 3"))
        return None
    return level


def _read_row(
    line: int, order: int, row: dict[str, str | None], problems: list[SnProblem], notes: list[SnProblem]
) -> _Row | None:
    before = len(problems)
    state_text = row.get("incident_state") or ""
    mapped = STATE_MAP.get(state_text)
    if state_text in NO_STATE:
        message = f"state {state_text} records no state: the previous state was kept"
        notes.append(SnProblem(line, "incident_state", message))
        mapped = (None, None)
    elif mapped is None:
        known = ", ".join(STATE_MAP)
        problems.append(SnProblem(line, "incident_state", f"unknown state {state_text!r}; one of {known}"))
    stamp = row.get("sys_updated_at") or ""
    updated_at = parse_time(stamp)
    if updated_at is None:
        problems.append(SnProblem(line, "sys_updated_at", f"{stamp!r} is not a time like dd-mm-yyyy HH:MM"))
    for column in ("opened_at", "resolved_at", "closed_at"):
        text = row.get(column)
        if text is not None and parse_time(text) is None:
            problems.append(SnProblem(line, column, f"{text!r} is not a time like dd-mm-yyyy HH:MM"))
    impact = _level(row, "impact", line, problems)
    urgency = _level(row, "urgency", line, problems)
    if len(problems) > before or mapped is None or updated_at is None:
        return None
    state, reason = mapped
    return _Row(
        line,
        order,
        updated_at,
        row,
        state.value if state else None,
        reason.value if reason else None,
        impact,
        urgency,
    )


_PRIORITIES = {(i, u): int(compute_priority(i, u)) for i in (1, 2, 3) for u in (1, 2, 3)}


def _tracked(row: _Row) -> dict[str, Any]:
    values = {
        "state": row.state,
        "on_hold_reason": row.on_hold_reason,
        "assignment_group": row.values.get("assignment_group"),
        "assigned_to": row.values.get("assigned_to"),
        "impact": row.impact,
        "urgency": row.urgency,
        "priority": None,
    }
    if row.impact is not None and row.urgency is not None:
        values["priority"] = _PRIORITIES[(row.impact, row.urgency)]
    return values


def _short_description(last: dict[str, str | None], number: str) -> str:
    symptom = last.get("u_symptom")
    where = " / ".join(v for v in (last.get("category"), last.get("subcategory")) if v)
    if symptom and where:
        return f"{symptom} ({where})"
    return symptom or where or f"Incident {number}"


def _carry_states(rows: list[_Row]) -> None:
    """Rows without a state take the previous row's (or, first of all, the next row's) state and reason."""
    known = next((r for r in rows if r.state is not None), None)
    previous = (known.state, known.on_hold_reason) if known else ("new", None)
    for row in rows:
        if row.state is None:
            row.state, row.on_hold_reason = previous
        previous = (row.state, row.on_hold_reason)


def _incident(number: str, rows: list[_Row]) -> SnIncident:
    rows.sort(key=lambda r: (r.updated_at, r.order))
    _carry_states(rows)
    last = rows[-1]
    values = last.values
    data: dict[str, Any] = {
        "short_description": _short_description(values, number),
        "state": last.state,
        "correlation_id": number,
    }
    if last.on_hold_reason:
        data["on_hold_reason"] = last.on_hold_reason
    for column, name in DIRECT_FIELDS.items():
        if values.get(column) is not None:
            data[name] = values[column]
    if last.impact is not None:
        data["impact"] = last.impact
    if last.urgency is not None:
        data["urgency"] = last.urgency
    opened = parse_time(values.get("opened_at") or "")
    if opened is not None:
        data["opened_at"] = opened
    if last.state in ("resolved", "closed"):
        resolved = parse_time(values.get("resolved_at") or "")
        if resolved is not None:
            data["resolved_at"] = resolved
        if values.get("closed_code") is not None:
            data["resolution_code"] = values["closed_code"]
    if last.state == "closed":
        closed = parse_time(values.get("closed_at") or "")
        if closed is not None:
            data["closed_at"] = closed
    for column in ("reopen_count", "reassignment_count"):
        text = values.get(column)
        if text is not None and text.isdigit():
            data[column] = int(text)
    extra = {c: _flag(values[c]) for c in EXTRA_COLUMNS if values.get(c) is not None}
    if values.get("priority") is not None:
        # Kept for checks only: our priority is derived from impact x urgency (they agree on this log).
        extra["source_priority"] = values["priority"]
    if last.state not in ("resolved", "closed") and values.get("closed_code") is not None:
        extra["closed_code"] = values["closed_code"]
    extra["event_rows"] = len(rows)
    data["extra"] = extra

    events: list[SnEvent] = []
    previous: dict[str, Any] = dict.fromkeys(TRACKED_FIELDS)
    for row in rows:
        current = _tracked(row)
        actor = row.values.get("sys_updated_by")
        for name in TRACKED_FIELDS:
            if current[name] != previous[name]:
                events.append(SnEvent(row.updated_at, actor, name, previous[name], current[name]))
        previous = current
    return SnIncident(
        number=number,
        line=last.line,
        lines=[r.line for r in rows],
        data=data,
        events=events,
    )


def collapse(
    columns: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str]]],
    notes: list[SnProblem] | None = None,
) -> tuple[list[SnIncident], list[SnProblem], int]:
    """Group event rows (line, cells) by incident number: (incidents in file order, problems, rows read).

    Fix-ups that lose nothing (a row without a state) are appended to `notes` when it is given.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"not a ServiceNow incident log: missing columns {', '.join(missing)}")
    names = list(columns)
    width = len(names)
    problems: list[SnProblem] = []
    notes = notes if notes is not None else []
    groups: dict[str, list[_Row]] = {}
    count = 0
    for order, (line, cells) in enumerate(rows):
        count += 1
        values = map(_value, cells) if len(cells) >= width else map(_value, [*cells, *[None] * width])
        row = dict(zip(names, values, strict=False))
        _prefixed(row)
        number_text = row.get("number")
        if number_text is None:
            problems.append(SnProblem(line, "number", "missing incident number"))
            continue
        parsed = _read_row(line, order, row, problems, notes)
        if parsed is not None:
            groups.setdefault(_number(number_text), []).append(parsed)
    incidents = [_incident(number, group) for number, group in groups.items()]
    return incidents, problems, count
