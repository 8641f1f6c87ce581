"""Replay a real ServiceNow incident event log through the incident transition table.

Usage: `python -m itsm_ai.workflow.replay [--skip-unknown-states] PATH`, e.g.
`../shared/data/servicenow_incident_event_log.csv`
(the full UCI log, `servicenow_incident_event_log_full.csv.gz`, replays too; it has 5 rows in state "-100",
which `--skip-unknown-states` counts and skips instead of stopping).

The log has one row per update of an incident (columns in ../shared/data/README.md; dates dd-mm-yyyy HH:MM;
"?" means empty). Per incident, rows are ordered by `sys_updated_at`, then by file order; an observed
transition is a pair of consecutive rows whose source states differ. Each is mapped through `STATE_MAP` and
checked with `check_transition`.

One mapping depends on context: this ServiceNow release has no Cancelled state, so an incident dropped without
a fix was closed straight from an open state. A move to Closed from anything but Resolved, on an incident with
no `resolved_at`, is therefore replayed as a move to `cancelled` (counted as `closed_as_cancelled`). A Closed
row after Resolved is always `closed`.

Required fields: the export has no per-update field values for resolution. `closed_code`, `resolved_by` and
`resolved_at` carry the incident's *final* values on every row (even on its New rows), so they stand for what
the resolver entered: `resolution_code` is the row's `closed_code` and `resolution_notes` a provenance note
built from `resolved_by`/`resolved_at` (the export has no free-text notes). A "?" leaves the field empty and
the move is refused, as the engine would refuse it. `on_hold_reason` comes from the source state (see
`STATE_MAP`).
"""

import csv
import gzip
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from itsm_ai.base.record_types import RecordType
from itsm_ai.base.states import IncidentState, OnHoldReason
from itsm_ai.workflow.transitions import TransitionError, allowed_next, check_transition

# ServiceNow incident state -> (our state, on-hold reason).
STATE_MAP: dict[str, tuple[IncidentState, OnHoldReason | None]] = {
    "New": (IncidentState.new, None),
    # "Active" is ServiceNow's work-in-progress state (label "In Progress" in newer releases).
    "Active": (IncidentState.in_progress, None),
    # The four "Awaiting ..." states are ServiceNow's older on-hold states; the reason becomes on_hold_reason.
    "Awaiting User Info": (IncidentState.on_hold, OnHoldReason.awaiting_caller),
    "Awaiting Problem": (IncidentState.on_hold, OnHoldReason.awaiting_problem),
    "Awaiting Vendor": (IncidentState.on_hold, OnHoldReason.awaiting_vendor),
    # Evidence (logs, screenshots, a reproduction) is requested from the caller: the closest of our reasons.
    "Awaiting Evidence": (IncidentState.on_hold, OnHoldReason.awaiting_caller),
    "Resolved": (IncidentState.resolved, None),
    "Closed": (IncidentState.closed, None),
}
# See the module docstring: Closed straight from an open state with no resolution recorded.
UNRESOLVED_CLOSE = (IncidentState.cancelled, None)

EMPTY = "?"
# The sample uses dd-mm-yyyy HH:MM, the full UCI file (servicenow_incident_event_log_full.csv.gz) d/m/yyyy.
# A regular expression rather than strptime: strptime dominates the run time on the 141,712-row file.
_TIMESTAMP = re.compile(r"^\s*(\d{1,2})[-/](\d{1,2})[-/](\d{4}) (\d{1,2}):(\d{2})\s*$")
REQUIRED_COLUMNS = ("number", "incident_state", "sys_updated_at", "closed_code", "resolved_by", "resolved_at")

# Why a move the table refuses is refused, and what the engine does instead.
REFUSAL_NOTES: dict[tuple[str, str], str] = {
    (IncidentState.resolved, IncidentState.new): (
        "a resolved incident goes back to New; our reopen goes resolved -> in_progress (someone works on it "
        "again), and New is only the intake state"
    ),
    (IncidentState.resolved, IncidentState.on_hold): (
        "reopened straight into on hold; our reopen is resolved -> in_progress, then in_progress -> on_hold"
    ),
    (IncidentState.new, IncidentState.closed): (
        "closed without passing through Resolved although a resolution is recorded (resolved_at set), so "
        "the log misses or misorders the Resolved row; closure needs the resolved state first"
    ),
    (IncidentState.closed, IncidentState.in_progress): (
        "a closed incident is reopened; closed is final (reporting and SLAs are frozen), a recurrence after "
        "closure is a new incident linked to the old one"
    ),
}


@dataclass(frozen=True)
class RefusedGroup:
    """Refused transitions with the same mapped (from, to) pair."""

    from_state: str
    to_state: str
    count: int
    explanation: str
    source_pairs: dict[tuple[str, str], int]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ReplayReport:
    """Counts of a replay of an incident event log."""

    path: str
    events: int
    incidents: int
    observed_transitions: int
    accepted: int
    refused: int
    reason_changes: int
    closed_as_cancelled: int
    initial_states: dict[str, int]
    refused_groups: tuple[RefusedGroup, ...] = field(default_factory=tuple)
    skipped_rows: dict[str, int] = field(default_factory=dict)

    @property
    def accepted_share(self) -> float:
        """Accepted / observed transitions (1.0 when there are none)."""
        return self.accepted / self.observed_transitions if self.observed_transitions else 1.0

    def format(self) -> str:
        """A plain-text report."""
        lines = [
            f"replay of {self.path}",
            f"events: {self.events}  incidents: {self.incidents}",
            f"observed transitions: {self.observed_transitions}  accepted: {self.accepted} "
            f"({self.accepted_share:.2%})  refused: {self.refused}",
            f"on-hold reason changes (same state after mapping, accepted as no-ops): {self.reason_changes}",
            f"closed from an open state, no resolution, replayed as cancelled: {self.closed_as_cancelled}",
            "first logged state: " + ", ".join(f"{s} {n}" for s, n in self.initial_states.items()),
        ]
        if self.skipped_rows:
            lines.append(
                "skipped rows with unknown states: "
                + ", ".join(f"{s!r} {n}" for s, n in self.skipped_rows.items())
            )
        for group in self.refused_groups:
            sources = ", ".join(f"{a} -> {b} ({n})" for (a, b), n in group.source_pairs.items())
            lines += [
                f"refused {group.from_state} -> {group.to_state}: {group.count}  [{sources}]",
                f"    why: {group.explanation}",
                f"    e.g. {', '.join(group.examples)}",
            ]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Event:
    line: int
    number: str
    state: str
    updated_at: datetime
    closed_code: str
    resolved_by: str
    resolved_at: str


def _value(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", EMPTY) else text


def _parse_time(text: str) -> datetime | None:
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    day, month, year, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:
        return None


def _read_events(path: Path, skipped: Counter[str] | None) -> Iterator[_Event]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        for row in reader:
            line = reader.line_num
            state = row["incident_state"].strip()
            if state not in STATE_MAP:
                if skipped is not None:
                    skipped[state] += 1
                    continue
                raise ValueError(
                    f"{path}:{line}: unknown incident_state {state!r}; known: {', '.join(STATE_MAP)}"
                )
            updated_at = _parse_time(row["sys_updated_at"])
            if updated_at is None:
                raise ValueError(
                    f"{path}:{line}: sys_updated_at {row['sys_updated_at']!r} is not dd-mm-yyyy HH:MM"
                )
            yield _Event(
                line,
                row["number"].strip(),
                state,
                updated_at,
                row["closed_code"],
                row["resolved_by"],
                row["resolved_at"],
            )


def _fields_after(event: _Event) -> dict[str, str | None]:
    """The incident's field values after the move to `event.state`, as far as the export tells them."""
    _, reason = STATE_MAP[event.state]
    resolved_by, resolved_at = _value(event.resolved_by), _value(event.resolved_at)
    notes = None
    if resolved_by or resolved_at:
        notes = (
            f"Imported from event log: resolved by {resolved_by or 'unknown'} at {resolved_at or 'unknown'}."
        )
    return {
        "on_hold_reason": str(reason) if reason else None,
        "resolution_code": _value(event.closed_code),
        "resolution_notes": notes,
    }


def _explain(from_state: str, to_state: str, missing: set[str]) -> str:
    if missing:
        return (
            f"required fields empty in the export: {', '.join(sorted(missing))} (closed_code, or both "
            "resolved_by and resolved_at, are '?'); the engine refuses a resolve without them"
        )
    note = REFUSAL_NOTES.get((from_state, to_state))
    allowed = ", ".join(allowed_next(RecordType.incident, from_state)) or "nothing (final state)"
    generic = f"not in the incident table; from {from_state} the table allows {allowed}"
    return f"{note}; {generic}" if note else generic


def replay_incident_log(path: str | Path, *, skip_unknown_states: bool = False) -> ReplayReport:
    """Replay every incident of a ServiceNow event log CSV (or .csv.gz) through the incident table."""
    path = Path(path)
    by_incident: dict[str, list[_Event]] = defaultdict(list)
    events = 0
    skipped: Counter[str] | None = Counter() if skip_unknown_states else None
    for event in _read_events(path, skipped):
        by_incident[event.number].append(event)
        events += 1

    observed = accepted = reason_changes = cancelled = 0
    initial: Counter[str] = Counter()
    refused: dict[tuple[str, str], list[tuple[_Event, _Event, set[str]]]] = defaultdict(list)
    for number in sorted(by_incident):
        # sorted() is stable, so rows with the same minute keep their file order.
        rows = sorted(by_incident[number], key=lambda e: e.updated_at)
        initial[rows[0].state] += 1
        for before, after in zip(rows, rows[1:], strict=False):
            if before.state == after.state:
                continue
            observed += 1
            from_state, _ = STATE_MAP[before.state]
            to_state, _ = STATE_MAP[after.state]
            if after.state == "Closed" and before.state != "Resolved" and not _value(after.resolved_at):
                to_state, _ = UNRESOLVED_CLOSE
                cancelled += 1
            if from_state == to_state:
                reason_changes += 1
            try:
                check_transition(RecordType.incident, from_state, to_state, _fields_after(after))
            except TransitionError as exc:
                refused[(str(from_state), str(to_state))].append((before, after, set(exc.missing_fields)))
            else:
                accepted += 1

    groups = []
    for (from_state, to_state), items in sorted(refused.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        missing = set().union(*(m for _, _, m in items))
        sources = Counter((b.state, a.state) for b, a, _ in items)
        examples = tuple(dict.fromkeys(a.number for _, a, _ in items))[:5]
        groups.append(
            RefusedGroup(
                from_state,
                to_state,
                len(items),
                _explain(from_state, to_state, missing),
                dict(sources),
                examples,
            )
        )
    return ReplayReport(
        path=str(path),
        events=events,
        incidents=len(by_incident),
        observed_transitions=observed,
        accepted=accepted,
        refused=observed - accepted,
        reason_changes=reason_changes,
        closed_as_cancelled=cancelled,
        initial_states=dict(initial.most_common()),
        refused_groups=tuple(groups),
        skipped_rows=dict(skipped) if skipped else {},
    )


def main(argv: list[str] | None = None) -> int:
    """Print the replay report of the CSV given on the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    lenient = "--skip-unknown-states" in args
    args = [a for a in args if a != "--skip-unknown-states"]
    if len(args) != 1:
        print(
            "usage: python -m itsm_ai.workflow.replay [--skip-unknown-states] PATH_TO_EVENT_LOG.csv[.gz]",
            file=sys.stderr,
        )
        return 2
    try:
        report = replay_incident_log(args[0], skip_unknown_states=lenient)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
