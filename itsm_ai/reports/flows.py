"""Keeping the report facts in line with the store.

- `on_record_event` (an engine listener, after the SLA clocks') rewrites a ticket's facts in the writer's
  transaction on every create, update and SLA warning/breach, and drops them with the ticket: a report sees
  exactly what is committed.
- `rebuild` recomputes the facts of many tickets in batches, for writes that publish no events (bulk import)
  and for a database that had tickets before the facts existed (`itsm-ai report rebuild`, and in the
  background when the server starts and finds tickets without facts).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from itsm_ai.records.events import RecordEvent
from itsm_ai.reports import facts as facts_core
from itsm_ai.reports.models import (
    DAY_DIMENSIONS,
    DAY_EVENTS,
    ReportSuggestion,
    ReportSuggestionDay,
    ReportSuggestionHour,
    ReportTicket,
    ReportTicketDay,
)
from itsm_ai.sla import policies
from itsm_ai.sla.models import TicketSla, TicketStateHistory
from itsm_ai.ticket.service import TICKET_SPECS

log = logging.getLogger(__name__)

BATCH = 1000
TICKET_COLUMNS = (
    "id",
    "state",
    "priority",
    "category",
    "assignment_group_id",
    "assigned_to_id",
    "opened_at",
    "resolved_at",
    "closed_at",
    "updated_at",
    "extra",
    "suggestions",
    "reassignment_count",
    "reopen_count",
)
Progress = Callable[[int, int], None]


def _clock(row: Any) -> facts_core.ClockFacts:
    core = policies.core_of(row.policy)
    return facts_core.ClockFacts(
        stage=row.stage,
        deadline=row.deadline,
        stopped_at=row.stopped_at,
        calendar=core.calendar,
        response_states=core.response_states,
        cancel_states=core.cancel_states,
    )


HOUR_KEY = ("record_type", "field", "model", "model_version", "hour", "status", "feedback")


def _hour_key(row) -> tuple:
    return (
        row["record_type"],
        row["field"],
        row["model"],
        row["model_version"],
        row["opened_at"] // 3600 * 3600,
        row["status"],
        row["feedback"] or "",
    )


DAY_KEY = (
    "record_type",
    "dimension",
    "field",
    "model",
    "model_version",
    "day",
    "value",
    "status",
    "feedback",
)


def _text(value) -> str:
    return "" if value is None else str(value)


def _day_keys(row) -> list[tuple]:
    day = row["opened_at"] // 86400 * 86400
    tail = (row["status"], row["feedback"] or "")
    head = (row["field"], row["model"], row["model_version"], day)
    return [(row["record_type"], dim, *head, _text(row[dim]), *tail) for dim in DAY_DIMENSIONS]


TICKET_DAY_KEY = ("record_type", "dimension", "day", "value")


def _floor_day(seconds: int) -> int:
    return seconds - seconds % 86400  # Python's % floors: the UTC day's start, before 1970 too


def _ticket_day_moves(row, sign: int, moves: dict[tuple, list[int]]) -> None:
    """Add (sign 1) or take away (-1) a ticket fact's opened, resolved and closed day counts."""
    for i, event in enumerate(DAY_EVENTS):
        at = row[f"{event}_at"]
        if at is None:
            continue
        day = _floor_day(at)
        for dim in DAY_DIMENSIONS:
            moves.setdefault((row["record_type"], dim, day, _text(row[dim])), [0] * len(DAY_EVENTS))[i] += (
                sign
            )


def _write(
    db_session: Session, record_type: str, ids: Sequence[int], ticket_rows, suggestion_rows, *, hours=True
) -> None:
    """Replace the facts of these tickets; with `hours`, move the hourly and daily suggestion counts and the
    daily ticket counts by the change."""
    table = ReportSuggestion.__table__
    facts = ReportTicket.__table__
    deltas: Counter[tuple] = Counter()
    day_deltas: Counter[tuple] = Counter()
    ticket_days: dict[tuple, list[int]] = {}
    for chunk in _chunks(ids, 500):
        where = (table.c.record_type == record_type, table.c.record_id.in_(chunk))
        ticket_where = (facts.c.record_type == record_type, facts.c.record_id.in_(chunk))
        if hours:
            for old in db_session.execute(select(table).where(*where)).mappings():
                deltas[_hour_key(old)] -= 1
                for key in _day_keys(old):
                    day_deltas[key] -= 1
            counted = [
                facts.c[c] for c in ("record_type", "opened_at", "resolved_at", "closed_at", *DAY_DIMENSIONS)
            ]
            for old in db_session.execute(select(*counted).where(*ticket_where)).mappings():
                _ticket_day_moves(old, -1, ticket_days)
        db_session.execute(delete(table).where(*where))
        db_session.execute(delete(facts).where(*ticket_where))
    if ticket_rows:
        db_session.execute(insert(ReportTicket.__table__), ticket_rows)
        if hours:
            for new in ticket_rows:
                _ticket_day_moves(new, 1, ticket_days)
    if suggestion_rows:
        db_session.execute(insert(table), suggestion_rows)
        if hours:
            for new in suggestion_rows:
                deltas[_hour_key(new)] += 1
                for key in _day_keys(new):
                    day_deltas[key] += 1
    # Sorted, so two writers touching the same hours lock them in the same order (no deadlock).
    for key, delta in sorted(deltas.items()):
        if delta:
            _add_count(db_session, ReportSuggestionHour.__table__, HOUR_KEY, key, delta)
    for key, delta in sorted(day_deltas.items()):
        if delta:
            _add_count(db_session, ReportSuggestionDay.__table__, DAY_KEY, key, delta)
    for key, moved in sorted(ticket_days.items()):
        if any(moved):
            _add_ticket_day(db_session, key, moved)


def _add_count(db_session: Session, table, names: Sequence[str], key: tuple, delta: int) -> None:
    values = dict(zip(names, key, strict=True))
    if db_session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(table).values(**values, tickets=delta)
    stmt = stmt.on_conflict_do_update(index_elements=list(names), set_={"tickets": table.c.tickets + delta})
    db_session.execute(stmt)
    if delta < 0:  # an hour whose last ticket of a kind left must not keep a key with nothing behind it
        match = [table.c[name] == value for name, value in values.items()]
        db_session.execute(delete(table).where(*match, table.c.tickets <= 0))


def _add_ticket_day(db_session: Session, key: tuple, moved: Sequence[int]) -> None:
    table = ReportTicketDay.__table__
    values = dict(zip(TICKET_DAY_KEY, key, strict=True))
    if db_session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    counts = dict(zip(DAY_EVENTS, moved, strict=True))
    stmt = upsert(table).values(**values, **counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(TICKET_DAY_KEY), set_={e: table.c[e] + d for e, d in counts.items()}
    )
    db_session.execute(stmt)
    if min(moved) < 0:  # a day whose last ticket of a value left must not keep a row with nothing behind it
        match = [table.c[name] == value for name, value in values.items()]
        db_session.execute(delete(table).where(*match, *(table.c[e] <= 0 for e in DAY_EVENTS)))


def rebuild_hours(*, db_session: Session, record_types: Sequence[str]) -> None:
    """Recount the hourly suggestion counts of these ticket types from the suggestion facts."""
    hours, facts = ReportSuggestionHour.__table__, ReportSuggestion.__table__
    db_session.execute(delete(hours).where(hours.c.record_type.in_(record_types)))
    hour = facts.c.opened_at - facts.c.opened_at % 3600
    feedback = func.coalesce(facts.c.feedback, "")
    keys = [
        facts.c.record_type,
        facts.c.field,
        facts.c.model,
        facts.c.model_version,
        hour,
        facts.c.status,
        feedback,
    ]
    counted = select(*keys, func.count()).where(facts.c.record_type.in_(record_types)).group_by(*keys)
    db_session.execute(insert(hours).from_select([*HOUR_KEY, "tickets"], counted))
    rebuild_days(db_session=db_session, record_types=record_types)
    rebuild_ticket_days(db_session=db_session, record_types=record_types)


def rebuild_days(*, db_session: Session, record_types: Sequence[str]) -> None:
    """Recount the daily suggestion counts per ticket field of these types from the suggestion facts."""
    days, facts = ReportSuggestionDay.__table__, ReportSuggestion.__table__
    db_session.execute(delete(days).where(days.c.record_type.in_(record_types)))
    day = facts.c.opened_at - facts.c.opened_at % 86400
    feedback = func.coalesce(facts.c.feedback, "")
    parts = []
    for dimension in DAY_DIMENSIONS:
        value = func.coalesce(cast(facts.c[dimension], String), "")
        keys = [
            facts.c.record_type,
            literal(dimension, String).label("dimension"),
            facts.c.field,
            facts.c.model,
            facts.c.model_version,
            day.label("day"),
            value.label("value"),
            facts.c.status,
            feedback.label("feedback"),
        ]
        grouped = [k for i, k in enumerate(keys) if i != 1]
        parts.append(
            select(*keys, func.count().label("tickets"))
            .where(facts.c.record_type.in_(record_types))
            .group_by(*grouped)
        )
    db_session.execute(insert(days).from_select([*DAY_KEY, "tickets"], union_all(*parts)))


def _sql_day(column):
    # The UTC day's start, floored as in Python (SQL's % truncates towards zero before 1970).
    return column - (column % 86400 + 86400) % 86400


def rebuild_ticket_days(*, db_session: Session, record_types: Sequence[str]) -> None:
    """Recount the daily ticket counts per ticket field of these types from the ticket facts."""
    days, facts = ReportTicketDay.__table__, ReportTicket.__table__
    db_session.execute(delete(days).where(days.c.record_type.in_(record_types)))
    for dimension in DAY_DIMENSIONS:
        value = func.coalesce(cast(facts.c[dimension], String), "")
        events = union_all(
            *(
                select(
                    facts.c.record_type,
                    _sql_day(facts.c[f"{event}_at"]).label("day"),
                    value.label("value"),
                    *(literal(int(e == event)).label(e) for e in DAY_EVENTS),
                ).where(facts.c.record_type.in_(record_types), facts.c[f"{event}_at"].isnot(None))
                for event in DAY_EVENTS
            )
        ).subquery("e")
        counted = select(
            events.c.record_type,
            literal(dimension, String).label("dimension"),
            events.c.day,
            events.c.value,
            *(func.sum(events.c[e]).label(e) for e in DAY_EVENTS),
        ).group_by(events.c.record_type, events.c.day, events.c.value)
        db_session.execute(insert(days).from_select([*TICKET_DAY_KEY, *DAY_EVENTS], counted))


def _chunks(values: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _facts_of(record_type: str, rows: Sequence[dict[str, Any]], histories, clocks) -> tuple[list, list]:
    ticket_rows, suggestion_rows = [], []
    for row in rows:
        fact = facts_core.ticket_facts(
            record_type=record_type,
            record_id=row["id"],
            ticket=row,
            history=histories.get(row["id"], ()),
            clocks=clocks.get(row["id"], {}),
        )
        ticket_rows.append(fact)
        suggestion_rows.extend(facts_core.suggestion_facts(fact, row.get("suggestions")))
    return ticket_rows, suggestion_rows


def _histories(db_session: Session, record_type: str, ids: Sequence[int]) -> dict[int, list]:
    out: dict[int, list] = {}
    for chunk in _chunks(ids, 500):
        rows = db_session.execute(
            select(TicketStateHistory.record_id, TicketStateHistory.at, TicketStateHistory.state)
            .where(TicketStateHistory.record_type == record_type, TicketStateHistory.record_id.in_(chunk))
            .order_by(TicketStateHistory.record_id, TicketStateHistory.id)
        )
        for record_id, at, state in rows:
            out.setdefault(record_id, []).append((at, state))
    return out


def _clocks(db_session: Session, record_type: str, ids: Sequence[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for chunk in _chunks(ids, 500):
        rows = db_session.execute(
            select(
                TicketSla.record_id,
                TicketSla.kind,
                TicketSla.stage,
                TicketSla.deadline,
                TicketSla.stopped_at,
                TicketSla.policy,
            ).where(TicketSla.record_type == record_type, TicketSla.record_id.in_(chunk))
        )
        for row in rows:
            out.setdefault(row.record_id, {})[row.kind] = _clock(row)
    return out


def _ticket_rows(db_session: Session, model, where) -> list[dict[str, Any]]:
    columns = [getattr(model, c) for c in TICKET_COLUMNS if hasattr(model, c)]
    return [dict(r._mapping) for r in db_session.execute(select(*columns).where(where).order_by(model.id))]


def refresh(*, db_session: Session, record_type: str, ids: Sequence[int], hours: bool = True) -> int:
    """Recompute the facts of these tickets of one type (ids of deleted tickets just lose theirs); `hours`
    False leaves the hourly and daily counts to a `rebuild_hours` afterwards."""
    spec = TICKET_SPECS[record_type]
    ids = sorted(set(ids))
    written = 0
    for chunk in _chunks(ids, BATCH):
        rows = _ticket_rows(db_session, spec.model, spec.model.id.in_(chunk))
        found = [r["id"] for r in rows]
        histories = _histories(db_session, record_type, found)
        clocks = _clocks(db_session, record_type, found)
        ticket_rows, suggestion_rows = _facts_of(record_type, rows, histories, clocks)
        _write(db_session, record_type, chunk, ticket_rows, suggestion_rows, hours=hours)
        written += len(ticket_rows)
    return written


def rebuild(
    *,
    db_session: Session,
    record_types: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute the facts of every ticket of these types (default: all), in batches; returns the count."""
    record_types = list(record_types or TICKET_SPECS)
    models = [TICKET_SPECS[rt].model for rt in record_types]
    total = sum(db_session.scalar(select(func.count()).select_from(m)) or 0 for m in models)
    done = 0
    for record_type in record_types:
        model = TICKET_SPECS[record_type].model
        for table in (ReportTicket.__table__, ReportSuggestion.__table__):
            db_session.execute(delete(table).where(table.c.record_type == record_type))
        last_id = 0
        while True:
            ids = db_session.scalars(
                select(model.id).where(model.id > last_id).order_by(model.id).limit(BATCH)
            ).all()
            if not ids:
                break
            done += refresh(db_session=db_session, record_type=record_type, ids=ids, hours=False)
            last_id = ids[-1]
            if progress is not None:
                progress(done, total)
    rebuild_hours(db_session=db_session, record_types=record_types)
    return done


def missing(*, db_session: Session, record_type: str) -> list[int]:
    """Ids of tickets of a type that have no facts (written before the facts existed, or by raw SQL)."""
    model = TICKET_SPECS[record_type].model
    facts = select(ReportTicket.record_id).where(ReportTicket.record_type == record_type)
    return list(db_session.scalars(select(model.id).where(model.id.not_in(facts)).order_by(model.id)))


def reconcile(*, db_session: Session) -> int:
    """Add the facts of tickets that lack them and drop facts whose ticket is gone; returns tickets fixed."""
    fixed = 0
    for record_type, spec in TICKET_SPECS.items():
        ids = missing(db_session=db_session, record_type=record_type)
        if ids:
            fixed += refresh(db_session=db_session, record_type=record_type, ids=ids, hours=False)
        live = select(spec.model.id)
        for table in (ReportSuggestion.__table__, ReportTicket.__table__):
            gone = db_session.execute(
                delete(table).where(table.c.record_type == record_type, table.c.record_id.not_in(live))
            )
        fixed += gone.rowcount or 0
    if fixed:
        rebuild_hours(db_session=db_session, record_types=list(TICKET_SPECS))
    return fixed


def reconcile_in_background() -> threading.Thread:
    """Run `reconcile` in a daemon thread with its own session (server start-up)."""

    def run() -> None:
        from itsm_ai.database import get_session

        try:
            with get_session() as db_session:
                fixed = reconcile(db_session=db_session)
            if fixed:
                log.info("report facts reconciled for %d tickets", fixed)
        except Exception:  # noqa: BLE001 - start-up must not fail on a reporting back-fill
            log.exception("report facts reconciliation failed")

    thread = threading.Thread(target=run, name="report-facts", daemon=True)
    thread.start()
    return thread


def on_record_event(db_session: Session, event: RecordEvent) -> None:
    """Domain-event listener: rewrite (or drop) the facts of the ticket the event is about."""
    if event.record_type not in TICKET_SPECS or event.kind == "creating":
        return
    record_id = event.record.id
    if event.kind == "deleted":
        _write(db_session, event.record_type, [record_id], [], [])
        return
    db_session.flush()  # the SLA listener's clock changes must be visible to the reads below
    refresh(db_session=db_session, record_type=event.record_type, ids=[record_id])
