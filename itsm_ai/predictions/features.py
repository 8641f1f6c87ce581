"""What a prediction may know about a ticket at a point of its life, from the store or from an event log.

A snapshot is one flat dict per ticket (the columns of `CATEGORICAL` and `NUMERIC`), built only from what was
recorded at or before the prediction time: the ticket's fields as last written, the states it went through so
far, and counts over other tickets up to that time (the group's open backlog, recent arrivals). The event-log
builder (`event_log_snapshots`) applies the same rule to the ServiceNow log: no row after the cutoff, and none
of the columns that carry the incident's final values on every row (`resolved_at`, `closed_at`,
`closed_code`, `resolved_by`, `made_sla`...).

Pure: pandas and numpy in, rows out; no database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from itsm_ai.base.states import IncidentState
from itsm_ai.data.servicenow import ID_PREFIXES, NO_STATE
from itsm_ai.workflow.replay import STATE_MAP

CATEGORICAL = (
    "priority",
    "impact",
    "urgency",
    "category",
    "subcategory",
    "symptom",
    "ci",
    "contact_type",
    "location",
    "group",
    "state",
    "opened_by",
    "knowledge",
    "priority_confirmation",
)
NUMERIC = (
    "reassignment_count",
    "reopen_count",
    "updates",
    "assigned",
    "elapsed_hours",
    "hours_new",
    "hours_in_progress",
    "hours_on_hold",
    "hour_of_day",
    "day_of_week",
    "backlog",
    "group_backlog",
    "category_arrivals_24h",
    "ci_arrivals_24h",
    "caller_recent",
)
FEATURES = CATEGORICAL + NUMERIC
# Human names of the features, for the reasons shown beside a risk.
LABELS = {
    "priority": "priority",
    "impact": "impact",
    "urgency": "urgency",
    "category": "category",
    "subcategory": "subcategory",
    "symptom": "symptom",
    "ci": "configuration item",
    "contact_type": "contact type",
    "location": "location",
    "group": "assignment group",
    "state": "state",
    "opened_by": "opened by",
    "knowledge": "knowledge base used",
    "priority_confirmation": "priority confirmed",
    "reassignment_count": "reassignments so far",
    "reopen_count": "reopens so far",
    "updates": "updates so far",
    "assigned": "has an assignee",
    "elapsed_hours": "hours open so far",
    "hours_new": "hours in New",
    "hours_in_progress": "hours in progress",
    "hours_on_hold": "hours on hold",
    "hour_of_day": "hour opened",
    "day_of_week": "weekday opened",
    "backlog": "open tickets overall",
    "group_backlog": "open tickets in the group",
    "category_arrivals_24h": "tickets of the category in the last 24 h",
    "ci_arrivals_24h": "tickets on the CI in the last 24 h",
    "caller_recent": "caller's tickets in the last 30 days",
}
POINTS = ("open", "1h", "assigned")
OPEN_STATES = frozenset({IncidentState.new, IncidentState.in_progress, IncidentState.on_hold})
ENDED_STATES = frozenset({IncidentState.resolved, IncidentState.closed, IncidentState.cancelled})
HOUR = 3600.0
_LEVEL = re.compile(r"^\s*(\d)")
CALLER_WINDOW = 30 * 24 * HOUR
ARRIVAL_WINDOW = 24 * HOUR


def state_hours(history: Iterable[tuple[str, float]], until: float) -> dict[str, float]:
    """Hours spent in new / in progress / on hold from (state, epoch seconds) entries up to `until`."""
    spent = {"hours_new": 0.0, "hours_in_progress": 0.0, "hours_on_hold": 0.0}
    entries = sorted((at, state) for state, at in history if at <= until)
    for (at, state), nxt in zip(entries, [*entries[1:], (until, None)], strict=False):
        key = f"hours_{state}"
        if key in spent:
            spent[key] += max(0.0, nxt[0] - at) / HOUR
    return spent


def calendar_features(opened_at: datetime | float) -> dict[str, float]:
    """Hour of day and weekday the ticket was opened (UTC)."""
    stamp = (
        pd.Timestamp(opened_at, unit="s") if isinstance(opened_at, int | float) else pd.Timestamp(opened_at)
    )
    return {"hour_of_day": float(stamp.hour), "day_of_week": float(stamp.day_of_week)}


def _text(value: Any) -> str | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def frame(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Snapshots as the estimators take them: the feature columns, categoricals as strings (None if empty)."""
    if isinstance(rows, pd.DataFrame):
        missing = [c for c in FEATURES if c not in rows.columns]
        if missing:
            raise ValueError(f"missing feature columns: {missing}")
        out = rows[list(FEATURES)].copy()
    else:
        out = pd.DataFrame(list(rows), columns=list(FEATURES))
    for name in CATEGORICAL:
        out[name] = out[name].map(_text).astype(object)
    for name in NUMERIC:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    return out


@dataclass
class Intervals:
    """When each ticket was open (opened, ended; ended = inf while open), by group, category and CI."""

    opened: np.ndarray
    ended: np.ndarray
    group: np.ndarray
    category: np.ndarray
    ci: np.ndarray
    caller: np.ndarray

    def __post_init__(self) -> None:
        self._sorted: dict[tuple[str, Any], tuple[np.ndarray, np.ndarray]] = {}

    def _index(self, column: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
        key = (column, value)
        if key not in self._sorted:
            mask = np.ones(len(self.opened), bool) if column == "all" else getattr(self, column) == value
            self._sorted[key] = (np.sort(self.opened[mask]), np.sort(self.ended[mask]))
        return self._sorted[key]

    def open_at(self, at: float, column: str = "all", value: Any = None) -> int:
        """Tickets opened at or before `at` and not ended by then."""
        if column != "all" and value is None:
            return 0
        opened, ended = self._index(column, value)
        return int(np.searchsorted(opened, at, "right") - np.searchsorted(ended, at, "right"))

    def arrivals(self, start: float, end: float, column: str, value: Any) -> int:
        """Tickets opened in (start, end]."""
        if value is None:
            return 0
        opened, _ = self._index(column, value)
        return int(np.searchsorted(opened, end, "right") - np.searchsorted(opened, start, "right"))


def _prefixed(series: pd.Series, column: str) -> pd.Series:
    prefix = ID_PREFIXES.get(column, "")
    values = [
        None if v in ("?", "") else (f"{prefix}{v}" if prefix and v.isdigit() else v)
        for v in series.astype(str).tolist()
    ]
    return pd.Series(values, index=series.index, dtype=object)


def _times(series: pd.Series) -> np.ndarray:
    parsed = pd.to_datetime(series, format="%d/%m/%Y %H:%M", errors="coerce")
    if parsed.isna().all():
        parsed = pd.to_datetime(series, format="%d-%m-%Y %H:%M", errors="coerce")
    out = (parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return out.astype("float64").where(parsed.notna(), np.nan).to_numpy()


def prepare_event_log(raw: pd.DataFrame) -> pd.DataFrame:
    """The event log with epoch-second times, our state names and the id prefixes, sorted per incident."""
    df = pd.DataFrame({"number": raw["number"].astype(str)})
    df["order"] = np.arange(len(raw))
    for column in ("opened_at", "sys_updated_at", "resolved_at"):
        df[column] = _times(raw[column])
    states = raw["incident_state"].astype(str)
    df["state"] = pd.Series(
        [None if s in NO_STATE else STATE_MAP.get(s, (None,))[0] for s in states.tolist()],
        index=raw.index,
        dtype=object,
    )
    df["state"] = df.groupby("number")["state"].ffill()
    for ours, theirs in (
        ("category", "category"),
        ("subcategory", "subcategory"),
        ("symptom", "u_symptom"),
        ("ci", "cmdb_ci"),
        ("location", "location"),
        ("group", "assignment_group"),
        ("assignee", "assigned_to"),
        ("caller", "caller_id"),
        ("opened_by", "opened_by"),
        ("knowledge", "knowledge"),
        ("priority_confirmation", "u_priority_confirmation"),
    ):
        df[ours] = _prefixed(raw[theirs].astype(str), theirs) if theirs in raw.columns else None
    df["contact_type"] = _prefixed(raw["contact_type"], "contact_type")
    for column in ("priority", "impact", "urgency"):
        df[column] = pd.Series(
            [m.group(1) if (m := _LEVEL.match(v)) else None for v in raw[column].astype(str).tolist()],
            index=raw.index,
            dtype=object,
        )
    for column in ("reassignment_count", "reopen_count"):
        df[column] = pd.to_numeric(raw[column], errors="coerce")
    flags = {"true": True, "false": False}
    df["made_sla"] = pd.Series(
        [flags.get(v.lower()) for v in raw["made_sla"].astype(str).tolist()], index=raw.index, dtype=object
    )
    return df.sort_values(["number", "sys_updated_at", "order"], kind="stable").reset_index(drop=True)


def _intervals(df: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> Intervals:
    ended_state = df["state"].isin(ENDED_STATES).to_numpy()
    updated = df["sys_updated_at"].to_numpy()
    opened = df["opened_at"].to_numpy()[starts]
    ended = np.full(len(starts), np.inf)
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        hits = np.flatnonzero(ended_state[a:b])
        if len(hits):
            ended[i] = updated[a + hits[0]]
    first = df.iloc[starts]
    return Intervals(
        opened=opened,
        ended=ended,
        group=first["group"].to_numpy(dtype=object),
        category=first["category"].to_numpy(dtype=object),
        ci=first["ci"].to_numpy(dtype=object),
        caller=first["caller"].to_numpy(dtype=object),
    )


def _cutoff(point: str, opened: float, updated: np.ndarray, assignee: np.ndarray) -> tuple[int, float] | None:
    """(rows known, prediction time) at a point of an incident's life, or None when it never reaches it."""
    if point == "open":
        return 1, max(opened, updated[0])
    if point == "1h":
        at = opened + HOUR
        known = int(np.searchsorted(updated, at, "right"))
        return (known, at) if known else None
    if point == "assigned":
        hits = np.flatnonzero(pd.notna(assignee))
        # Some incidents were opened (back-dated) after their first update: the time is never before open.
        return (int(hits[0]) + 1, max(opened, float(updated[hits[0]]))) if len(hits) else None
    raise ValueError(f"point must be one of {POINTS}, got {point!r}")


def event_log_snapshots(df: pd.DataFrame, point: str) -> pd.DataFrame:
    """One snapshot per incident still open at `point` (open, 1h, assigned), with its labels and times.

    `df` comes from `prepare_event_log`. Besides the features, each row holds `number`, `opened_at`, `at`
    (the prediction time), `breached` (the incident's final made_sla is false) and `hours_to_resolve` (from
    `at`; NaN when never resolved).
    """
    if point not in POINTS:
        raise ValueError(f"point must be one of {POINTS}, got {point!r}")
    numbers = df["number"].to_numpy()
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
    ends = np.r_[starts[1:], len(df)]
    spans = _intervals(df, starts, ends)
    cols = {c: df[c].to_numpy(dtype=object) for c in (*CATEGORICAL, "assignee", "caller")}
    updated = df["sys_updated_at"].to_numpy()
    opened_all = df["opened_at"].to_numpy()
    resolved_col = df["resolved_at"].to_numpy()
    reassign = df["reassignment_count"].to_numpy()
    reopen = df["reopen_count"].to_numpy()
    made_sla = df["made_sla"].to_numpy(dtype=object)
    rows = []
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        opened = opened_all[a]
        if np.isnan(opened):
            continue
        cut = _cutoff(point, opened, updated[a:b], cols["assignee"][a:b])
        if cut is None:
            continue
        known, at = cut
        last = a + known - 1
        state = cols["state"][last]
        if state not in OPEN_STATES or spans.ended[i] <= at:
            continue
        row = {name: cols[name][last] for name in CATEGORICAL}
        history = [(cols["state"][j], max(updated[j], opened)) for j in range(a, last + 1)]
        history[0] = (history[0][0], opened)
        row.update(state_hours(history, at))
        row.update(calendar_features(opened))
        ended = spans.ended[i]
        resolved = resolved_col[a] if not np.isnan(resolved_col[a]) else ended
        row.update(
            number=numbers[a],
            opened_at=opened,
            at=at,
            reassignment_count=reassign[last],
            reopen_count=reopen[last],
            updates=float(known),
            assigned=float(pd.notna(cols["assignee"][last])),
            elapsed_hours=(at - opened) / HOUR,
            backlog=spans.open_at(at),
            group_backlog=spans.open_at(at, "group", row["group"]),
            category_arrivals_24h=spans.arrivals(at - ARRIVAL_WINDOW, at, "category", row["category"]),
            ci_arrivals_24h=spans.arrivals(at - ARRIVAL_WINDOW, at, "ci", row["ci"]),
            caller_recent=spans.arrivals(at - CALLER_WINDOW, at, "caller", spans.caller[i]),
            breached=made_sla[b - 1] is False,
            hours_to_resolve=(resolved - at) / HOUR if np.isfinite(resolved) and resolved >= at else np.nan,
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values(["opened_at", "number"], kind="stable").reset_index(drop=True)
