"""What the web UI's pages read: the agent queue by SLA due, a requester's tickets, public history, search.

Everything here only reads; changes go through the public JSON API, called from the pages' JavaScript.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, desc, func, or_, select
from sqlalchemy.orm import Session, aliased

from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.models import User
from itsm_ai.base.roles import Role
from itsm_ai.base.states import ArticleState
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.errors import NotFoundError
from itsm_ai.group.models import Group, group_members
from itsm_ai.knowledge.article.models import KnowledgeArticle
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import fulltext
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import like_pattern, search_condition
from itsm_ai.records.rows import reader_for as rows_reader
from itsm_ai.records.spec import Action, RecordSpec
from itsm_ai.sla import service as sla_service
from itsm_ai.sla.models import TicketSla
from itsm_ai.ticket.service import INCIDENT, SERVICE_REQUEST, TICKET_SPECS

# Ticket types the portal and the queue show, by the number prefix and by the queue's type filter.
SPECS_BY_PREFIX = {spec.prefix: spec for spec in TICKET_SPECS.values()}
QUEUE_TYPES = {"incident": INCIDENT, "service_request": SERVICE_REQUEST}
OPEN_STATES = {
    "incident": ("new", "in_progress", "on_hold"),
    "service_request": ("submitted", "approval", "fulfilment"),
}
PORTAL_SPECS = (INCIDENT, SERVICE_REQUEST)
log = logging.getLogger(__name__)
# Nearest neighbours always exist: below this similarity an article is not shown as a search result.
MIN_SCORE = 0.2
_WORD = re.compile(r"[\w'-]{3,}", re.UNICODE)


def spec_for_number(number: str) -> RecordSpec:
    """The ticket spec a number belongs to (INC..., REQ..., PRB..., CHG...), or NotFoundError."""
    prefix = re.match(r"^[A-Za-z]+", number.strip())
    spec = SPECS_BY_PREFIX.get(prefix.group(0).upper()) if prefix else None
    if spec is None:
        raise NotFoundError(f"ticket {number} not found")
    return spec


def load_ticket(*, db_session: Session, user: User, number: str) -> tuple[RecordSpec, Any]:
    """A ticket by number with the API's read check (requesters: their own only, others' are 404)."""
    spec = spec_for_number(number)
    spec.access.check(user, Action.read, noun=spec.noun)
    obj = record_service.get(db_session=db_session, spec=spec, ref=number)
    spec.access.check(user, Action.read, obj, noun=spec.noun)
    return spec, obj


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
# (about 15 ms at 26,000 open tickets) cost less than walking this many clocks joined to their tickets.
DEEP_PAGE = 4_000


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
        # (the middle page of 26,000: 54 -> 18 ms on SQLite).
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


def group_names(*, db_session: Session) -> list[str]:
    """Names of the active assignment groups, for the queue filter."""
    return list(db_session.scalars(select(Group.name).where(Group.active.is_(True)).order_by(Group.name)))


def my_tickets(
    *,
    db_session: Session,
    user: User,
    status: str = "all",
    q: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the user's own incidents and service requests, newest first, and how many match in all;
    `status` is open, closed or all, `q` matches the number or the title."""
    out: list[dict[str, Any]] = []
    total = 0
    for spec in PORTAL_SPECS:
        model = spec.model
        conds = [model.caller_id == user.id]
        open_states = OPEN_STATES[spec.record_type]
        if status == "open":
            conds.append(model.state.in_(open_states))
        elif status == "closed":
            conds.append(model.state.notin_(open_states))
        if q and q.strip():
            pattern = like_pattern(q.strip())
            conds.append(
                or_(
                    model.number.ilike(pattern, escape="\\"),
                    model.short_description.ilike(pattern, escape="\\"),
                )
            )
        total += db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
        # Each type's newest offset+limit rows are enough to cut the merged page from.
        stmt = (
            select(model)
            .where(*conds)
            .order_by(model.opened_at.desc(), model.id.desc())
            .limit(offset + limit)
        )
        for obj in db_session.scalars(stmt).unique():
            row = record_service.serialize(spec, obj)
            row["record_type"] = spec.record_type
            row["is_open"] = obj.state in open_states
            out.append(row)
    out.sort(key=lambda r: (r["opened_at"], r["number"]), reverse=True)
    return out[offset : offset + limit], total


@dataclass
class HistoryEntry:
    """One line of a ticket's history as shown on its page."""

    at: datetime
    kind: str  # comment | work_note | state | created
    actor: str | None
    text: str | None = None
    old: str | None = None
    new: str | None = None


def history(*, db_session: Session, spec: RecordSpec, obj: Any, include_internal: bool) -> list[HistoryEntry]:
    """Comments and state changes, oldest first; without work notes or internal events for requesters."""
    entries: list[HistoryEntry] = []
    comments = select(Comment).where(Comment.record_type == spec.record_type, Comment.record_id == obj.id)
    if not include_internal:
        comments = comments.where(Comment.visibility == Visibility.public)
    for c in db_session.scalars(comments.order_by(Comment.id)):
        kind = "work_note" if c.visibility == Visibility.internal else "comment"
        author = c.author_ref.username if c.author_ref else None
        entries.append(HistoryEntry(c.created_at, kind, author, text=c.body))
    events = select(AuditEvent).where(
        AuditEvent.record_type == spec.record_type,
        AuditEvent.record_id == obj.id,
        or_(AuditEvent.action == "create", and_(AuditEvent.action == "update", AuditEvent.field == "state")),
    )
    if not include_internal:
        events = events.where(AuditEvent.internal.is_(False))
    for e in db_session.scalars(events.order_by(AuditEvent.id)):
        if e.action == "create":
            entries.append(HistoryEntry(e.at, "created", e.actor_name))
        else:
            entries.append(HistoryEntry(e.at, "state", e.actor_name, old=e.old_value, new=e.new_value))
    entries.sort(key=lambda h: h.at)
    return entries


def _semantic_numbers(db_session: Session, q: str, limit: int) -> list[str]:
    """Article numbers from the knowledge retrieval service, best first ([] when it is not available)."""
    try:
        from itsm_ai.knowledge.retrieval import service as retrieval
        from itsm_ai.knowledge.retrieval.documents import ARTICLE as ARTICLE_TYPE

        service = retrieval.get_service()
        items = service.search(db_session, q, k=limit, types=[ARTICLE_TYPE], min_score=MIN_SCORE)
    except Exception:  # a missing index or model must not break the page: the word search still answers
        log.warning("knowledge search unavailable; using word search", exc_info=True)
        return []
    return [item["number"] for item in items if item.get("record_type") == ARTICLE_TYPE]


def search_articles(
    *, db_session: Session, user: User, q: str | None, limit: int = 20
) -> list[dict[str, Any]]:
    """Knowledge articles for a search (published only for requesters, and without `q`): the retrieval
    service's ranking first, then articles matching the most words; without `q` the most helpful ones."""
    model = KnowledgeArticle
    conds = []
    if user.role == Role.requester or not q:
        conds.append(model.state == ArticleState.published)
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(q or "")))[:12]
    if not words:
        stmt = select(model).where(*conds).order_by(model.helpful_count.desc(), model.updated_at.desc())
        return [record_service.serialize(ARTICLE, a) for a in db_session.scalars(stmt.limit(limit)).unique()]
    ranked = _semantic_numbers(db_session, q or "", limit)
    found: dict[str, Any] = {}
    if ranked:
        for a in db_session.scalars(select(model).where(*conds, model.number.in_(ranked))).unique():
            found[a.number] = a
    hits = [
        or_(
            model.short_description.ilike(like_pattern(w), escape="\\"),
            model.text.ilike(like_pattern(w), escape="\\"),
        )
        for w in words
    ]
    score = case((hits[0], 1), else_=0)
    for hit in hits[1:]:
        score = score + case((hit, 1), else_=0)
    stmt = select(model).where(*conds, or_(*hits)).order_by(desc(score), model.helpful_count.desc())
    ordered = [found[n] for n in ranked if n in found]
    seen = set(found)
    for a in db_session.scalars(stmt.limit(limit)).unique():
        if a.number not in seen:
            ordered.append(a)
    return [record_service.serialize(ARTICLE, a) for a in ordered[:limit]]


def load_article(*, db_session: Session, user: User, number: str) -> Any:
    """An article with the API's read check (requesters: published only, others are 404)."""
    ARTICLE.access.check(user, Action.read, noun=ARTICLE.noun)
    obj = record_service.get(db_session=db_session, spec=ARTICLE, ref=number)
    ARTICLE.access.check(user, Action.read, obj, noun=ARTICLE.noun)
    return obj


def articles_in_review(*, db_session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Drafted articles waiting for review, oldest first."""
    stmt = (
        select(KnowledgeArticle)
        .where(KnowledgeArticle.state == ArticleState.review)
        .order_by(KnowledgeArticle.updated_at, KnowledgeArticle.id)
        .limit(limit)
    )
    return [record_service.serialize(ARTICLE, a) for a in db_session.scalars(stmt).unique()]


def catalog(*, db_session: Session) -> list[CatalogItem]:
    """Active catalog items by category and name."""
    stmt = select(CatalogItem).where(CatalogItem.active.is_(True))
    return list(db_session.scalars(stmt.order_by(CatalogItem.category, CatalogItem.name)).unique())


# -- the console's ticket page and knowledge authoring -------------------------------------------------------


def staff_usernames(*, db_session: Session) -> list[str]:
    """Active agents and admins, for assigning tickets."""
    stmt = select(User.username).where(User.role.in_((Role.agent, Role.admin)), User.active.is_(True))
    return list(db_session.scalars(stmt.order_by(User.username)))


def requester_usernames(*, db_session: Session, limit: int = 500) -> list[str]:
    """Active users who may be a ticket's caller, for opening a ticket on their behalf."""
    stmt = select(User.username).where(User.active.is_(True)).order_by(User.username).limit(limit)
    return list(db_session.scalars(stmt))


def members_of(*, db_session: Session, group: str | None) -> list[str]:
    """Usernames of an assignment group's members ([] without a group)."""
    if not group:
        return []
    stmt = (
        select(User.username)
        .join(group_members, group_members.c.user_id == User.id)
        .join(Group, Group.id == group_members.c.group_id)
        .where(Group.name == group, User.active.is_(True))
        .order_by(User.username)
    )
    return list(db_session.scalars(stmt))


def known_categories(*, db_session: Session, spec: RecordSpec, limit: int = 500) -> list[str]:
    """The categories tickets of this type already carry: what an agent picks from when correcting one."""
    column = spec.model.category
    # A loose index scan: each step asks the category index for the next value (0.2 ms for 100,000 tickets;
    # a GROUP BY read the whole index, 50 ms on PostgreSQL).
    known = select(func.min(column).label("v")).where(column.is_not(None)).cte("known", recursive=True)
    following = select(func.min(column)).where(column > known.c.v).scalar_subquery()
    known = known.union_all(select(following.label("v")).where(known.c.v.is_not(None)))
    stmt = select(known.c.v).where(known.c.v.is_not(None)).limit(limit)
    return [c for c in db_session.scalars(stmt) if c]


@dataclass
class ApprovalRow:
    """One approval of a ticket and whether the viewer may decide it."""

    id: int
    round: int
    approver: str | None
    group: str | None
    state: str
    comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    can_decide: bool
    # Asked by nobody: on creation, from the approvers the catalog item names.
    automatic: bool = False
    # Why it was asked when nobody asked by hand ("catalog item", "caller's manager", "rule 3: ...").
    reason: str | None = None


def approvals(*, db_session: Session, spec: RecordSpec, obj: Any, user: User) -> list[ApprovalRow]:
    """The ticket's approvals, every round, and which of them the viewer may approve or reject."""
    from itsm_ai.approval import service as approval_service

    out = []
    # Separation of duties: an approver who may not decide this record (its caller) gets no buttons.
    barred = approval_service.owners(db_session, spec.record_type, obj, deciding=True)
    for a in approval_service.list_for_record(
        db_session=db_session, record_type=spec.record_type, record_id=obj.id
    ):
        read = approval_service.to_read(a)
        out.append(
            ApprovalRow(
                id=a.id,
                round=read.round,
                approver=read.approver,
                group=read.approver_group,
                state=str(read.state),
                comment=read.comment,
                decided_by=read.decided_by,
                decided_at=read.decided_at,
                can_decide=str(read.state) == "requested"
                and user.id not in barred
                and approval_service.can_decide(db_session, a, user),
                automatic=a.requested_by_id is None,
                reason=a.reason,
            )
        )
    return out


@dataclass
class ArticleVersion:
    """The text of an article after one audited change (version 1 is the text it was created with)."""

    number: int
    at: datetime | None
    actor: str | None
    text: str


def article_versions(*, db_session: Session, obj: Any) -> list[ArticleVersion]:
    """The article's text versions, rebuilt from the audit trail of its `text` field (oldest first)."""
    events = list(
        db_session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.record_type == ARTICLE.record_type,
                AuditEvent.record_id == obj.id,
                AuditEvent.field == "text",
            )
            .order_by(AuditEvent.id)
        )
    )
    first = events[0].old_value if events else obj.text
    versions = [ArticleVersion(1, obj.created_at, None, first or "")]
    for e in events:
        versions.append(ArticleVersion(len(versions) + 1, e.at, e.actor_name, e.new_value or ""))
    return versions


def list_articles(
    *, db_session: Session, state: str | None, q: str | None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Articles in any state for the console, newest change first, with the full-text search of the API."""
    model = KnowledgeArticle
    conds = []
    if state:
        conds.append(model.state == state)
    if q and q.strip():
        conds.append(search_condition(db_session=db_session, spec=ARTICLE, q=q))
    stmt = select(model).where(*conds).order_by(model.updated_at.desc(), model.id.desc())
    rows = [
        record_service.serialize(ARTICLE, a)
        for a in db_session.scalars(stmt.limit(limit).offset(offset)).unique()
    ]
    total = db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
    return rows, total
