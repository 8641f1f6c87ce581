"""The agent console's queue: the saved views, full-text search and paging, soonest SLA due first.

It only reads; changes go through the public JSON API, called from the pages' JavaScript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from itsm_ai.auth.models import User
from itsm_ai.group.models import Group, group_members
from itsm_ai.records import fulltext
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import search_condition
from itsm_ai.records.rows import reader_for as rows_reader
from itsm_ai.records.spec import RecordSpec
from itsm_ai.sla import service as sla_service
from itsm_ai.sla.models import TicketSla
from itsm_ai.ui.ticket_reads import OPEN_STATES, QUEUE_TYPES


@dataclass
class QueueRow:
    """One ticket of the agent queue with its resolution clock."""

    ticket: dict[str, Any]
    sla_deadline: datetime | None
    sla_stage: str | None
    sla_breached: bool


# The queue's built-in saved views; "breaching" is a running resolution clock due within BREACHING_SOON.
QUEUE_VIEWS = {
    "all": "All open",
    "mine": "Assigned to me",
    "my_groups": "My groups",
    "unassigned": "Unassigned",
    "breaching": "Breaching soon",
}
BREACHING_SOON = timedelta(hours=4)
PAGE_SIZE = 50
# The queue counts its matches up to this many; more show as "More than 2,000" (see `queue`).
COUNT_CAP = 2_000


def queue(
    *,
    db_session: Session,
    record_type: str = "incident",
    groups: list[str] | None = None,
    states: list[str] | None = None,
    priorities: list[int] | None = None,
    sort: str = "sla",
    view: str = "all",
    q: str | None = None,
    user: User | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> tuple[list[QueueRow], int]:
    """Open (or filtered) tickets of a saved view and a full-text search, with their resolution SLA deadline,
    soonest due first by default; one page of `limit` rows from `offset`, and the number of matches (up to
    COUNT_CAP + 1: more than COUNT_CAP)."""
    spec = QUEUE_TYPES[record_type]
    model = spec.model
    sla = aliased(TicketSla)
    # Only a running clock orders the queue; a stopped one (met, cancelled) sorts with the clockless.
    running = and_(sla.record_type == spec.record_type, sla.kind == "resolution", sla.stopped_at.is_(None))
    conds = [model.state.in_(states or OPEN_STATES[record_type])]
    # Group ids are looked up first: PostgreSQL estimates "group_id IN (1, 2, 3)" from its statistics, but
    # "IN (subquery)" blindly, and a bad guess made it join every open ticket instead of walking the clocks.
    if groups:
        group_ids = list(db_session.scalars(select(Group.id).where(Group.name.in_(groups))))
        conds.append(model.assignment_group_id.in_(group_ids))
    if priorities:
        conds.append(model.priority.in_(priorities))
    if q and q.strip():
        conds.append(_queue_search(db_session, spec, q))
    clock_conds = []
    if view == "mine" and user is not None:
        conds.append(model.assigned_to_id == user.id)
    elif view == "my_groups" and user is not None:
        mine = select(group_members.c.group_id).where(group_members.c.user_id == user.id)
        conds.append(model.assignment_group_id.in_(list(db_session.scalars(mine))))
    elif view == "unassigned":
        # "+ 0" keeps SQLite off the assignee index (thousands of row reads to check the state) and on the
        # queue index, which answers both conditions by itself (60 ms -> 1 ms at 100,000 tickets); PostgreSQL
        # would guess the expression's selectivity instead of reading it from its statistics.
        sqlite = db_session.get_bind().dialect.name == "sqlite"
        conds.append((model.assigned_to_id + 0 if sqlite else model.assigned_to_id).is_(None))
    elif view == "breaching":
        soon = sla_service.current_time() + BREACHING_SOON
        clock_conds = [sla.stage != "paused", sla.deadline <= soon]
    matching = select(model.id).where(*conds)
    if clock_conds:
        matching = matching.join(sla, and_(running, sla.record_id == model.id)).where(*clock_conds)
    # Counted up to a cap, past which the page says "More than 2,000" (an exact count of the 8,000 tickets
    # breaching soon joined them all to their clocks, 80-120 ms on PostgreSQL; a capped one stops at the cap).
    capped = matching.limit(COUNT_CAP + 1).subquery()
    total = db_session.scalar(select(func.count()).select_from(capped)) or 0
    if sort == "sla":
        ids = _sla_page(db_session, model, sla, running, conds, clock_conds, total, limit, offset)
    else:
        if sort == "priority":
            order = (model.priority.asc(), model.id)  # ids are in opening order: the index covers the sort
        else:
            order = (model.opened_at.desc(), model.id.desc())
        keys = select(model.id).where(*conds).order_by(*order).limit(limit).offset(offset)
        if clock_conds:
            keys = keys.join(sla, and_(running, sla.record_id == model.id)).where(*clock_conds)
        ids = list(db_session.scalars(keys))
    return _queue_rows(db_session, spec, ids), total


# Up to this many matches the queue sorts the matching tickets by their clocks; above, it walks the running
# clocks in deadline order and stops at the page (a sort of 25,000 joined rows is what made it slow).
SMALL_QUEUE = COUNT_CAP
# From this many rows into a big queue (or past its middle) a page is read by `_sla_page_deep`: its counts
# (about 30 ms of SQLite at 26,000 open tickets) cost about as much as walking this many clocks joined to
# their tickets (28 ms for 10,000, 34 ms for 13,000).
DEEP_PAGE = 12_000


def _sla_page(db_session, model, sla, running, conds, clock_conds, total, limit, offset) -> list[int]:
    """Ids of one page in SLA order: running clocks soonest due first, then tickets without one by id."""
    if total <= SMALL_QUEUE:
        keys = (
            select(model.id)
            .outerjoin(sla, and_(running, sla.record_id == model.id))
            .where(*conds, *clock_conds)
            .order_by(case((sla.deadline.is_(None), 1), else_=0), sla.deadline, model.id)
        )
        return list(db_session.scalars(keys.limit(limit).offset(offset)))
    clocked = (
        select(model.id)
        .select_from(sla)
        .join(model, model.id == sla.record_id)
        .where(running, *clock_conds, *conds)
    )
    forward = clocked.order_by(sla.deadline, sla.record_id)
    # The exact number of matches, from the queue index alone (2 ms at 26,000 open tickets).
    matches = None
    if offset:
        matches = db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
        if offset >= matches:
            return []  # a page past the end: the walk would read every running clock to find nothing
        if not clock_conds and (2 * offset + limit > matches or offset >= DEEP_PAGE):
            return _sla_page_deep(db_session, model, sla, running, conds, clocked, matches, limit, offset)
    ids = list(db_session.scalars(forward.limit(limit).offset(offset)))
    if len(ids) == limit or clock_conds:
        return ids
    # Past the running clocks. Usually every match has one (clocks start with the ticket): the count says so,
    # and spares the anti-join below, which PostgreSQL, guessing that most tickets have no clock, ran as a
    # walk of every open ticket (350 ms at 26,000 for an empty answer).
    if matches is None:
        matches = db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
    if ids:
        with_clock = offset + len(ids)
    else:
        with_clock = db_session.scalar(select(func.count()).select_from(clocked.subquery()))
    if with_clock >= matches:
        return ids
    rest = (
        select(model.id)
        .where(*conds, _clockless(db_session, model, sla, running))
        .order_by(model.id)
        .limit(limit - len(ids))
        .offset(max(0, offset - with_clock))
    )
    return ids + list(db_session.scalars(rest))


def _clockless(db_session, model, sla, running):
    """The condition "no running clock": an anti-join that reads only the running clocks' index."""
    if db_session.get_bind().dialect.name == "sqlite":
        # SQLite probes the unique (record_type, record_id, kind) index for NOT EXISTS and reads each clock's
        # row for stopped_at (25 ms at 26,000 open tickets); NOT IN lists the running clocks' ids once from
        # the covering index (12 ms).
        return model.id.not_in(select(sla.record_id).where(running))
    # PostgreSQL hashes the running clocks for NOT EXISTS (a hash anti-join, 25 ms); NOT IN probed a hashed
    # subplan per ticket (48 ms).
    return ~select(sla.id).where(running, sla.record_id == model.id).exists()


def _sla_page_deep(db_session, model, sla, running, conds, clocked, matches, limit, offset) -> list[int]:
    """A page deep in the SLA order, walked from the nearer end of the running clocks (a back-half page
    latest due first, reversed), and from their index alone when every running clock is a match's."""
    end = min(offset + limit, matches)
    clockless = (
        db_session.scalar(
            select(func.count()).select_from(model).where(*conds, _clockless(db_session, model, sla, running))
        )
        or 0
    )
    with_clock = matches - clockless
    ids: list[int] = []
    if offset < with_clock:
        # A ticket has at most one resolution clock, so as many running clocks as matches with one means that
        # no running clock belongs to a ticket outside the view (the usual case: clocks stop with the ticket).
        # Their order is then the matches' order, read from the clocks' index without a row of the tickets
        # (the middle page of 26,000: 57 -> 34 ms of SQLite, counts included).
        running_clocks = db_session.scalar(select(func.count()).select_from(sla).where(running))
        if running_clocks == with_clock:
            walk = select(sla.record_id).where(running)
        else:
            walk = clocked
        stop = min(end, with_clock)
        if offset <= with_clock - stop:
            forward = walk.order_by(sla.deadline, sla.record_id)
            ids = list(db_session.scalars(forward.limit(stop - offset).offset(offset)))
        else:
            # Positions offset..stop of the clocks in order are these of the reversed order; (deadline,
            # record_id) is unique, so the reversal is exact.
            backward = walk.order_by(sla.deadline.desc(), sla.record_id.desc())
            ids = list(db_session.scalars(backward.limit(stop - offset).offset(with_clock - stop)))[::-1]
    if end > with_clock:
        start = max(offset, with_clock)
        rest = (
            select(model.id)
            .where(*conds, _clockless(db_session, model, sla, running))
            .order_by(model.id)
            .limit(end - start)
            .offset(start - with_clock)
        )
        ids += list(db_session.scalars(rest))
    return ids


def _queue_search(db_session: Session, spec: RecordSpec, q: str):
    """The queue's `q`: a ticket number, else the full-text index driving the query, else the API's search."""
    term = q.strip()
    if spec.prefix and re.fullmatch(rf"{spec.prefix}\d+", term, re.IGNORECASE):
        return spec.model.number == term.upper()
    terms = fulltext.words(term) if spec.fulltext else None
    if terms:
        dialect = db_session.get_bind().dialect.name
        # Always looked up from the index: the queue's other filters keep the matches few.
        return fulltext.match(dialect=dialect, model=spec.model, fields=spec.search_fields, terms=terms)
    return search_condition(db_session=db_session, spec=spec, q=term)


def _queue_rows(db_session: Session, spec: RecordSpec, ids: list[int]) -> list[QueueRow]:
    """The page's tickets, serialised, with their resolution clocks, in the order of `ids`."""
    if not ids:
        return []
    model = spec.model
    reader = rows_reader(spec)
    if reader is not None:
        # The list endpoints' plain rows: ORM objects loaded every eager relationship (groups with their
        # members, links) for a page of 50.
        tickets = {t["id"]: t for t in reader.read(db_session=db_session, ids=ids)}
    else:
        objs = db_session.scalars(select(model).where(model.id.in_(ids))).unique()
        tickets = {o.id: record_service.serialize(spec, o) for o in objs}
    clocks = {
        r.record_id: r
        for r in db_session.execute(
            select(TicketSla.record_id, TicketSla.deadline, TicketSla.stage, TicketSla.breached).where(
                TicketSla.record_type == spec.record_type,
                TicketSla.kind == "resolution",
                TicketSla.record_id.in_(ids),
            )
        )
    }
    rows = []
    for i in ids:
        if i not in tickets:
            continue  # deleted since the page's keys were read
        clock = clocks.get(i)
        rows.append(
            QueueRow(
                tickets[i],
                clock.deadline if clock else None,
                clock.stage if clock else None,
                bool(clock.breached) if clock else False,
            )
        )
    return rows
