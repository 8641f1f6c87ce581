"""What the web UI's pages read: the agent queue by SLA due, a requester's tickets, public history, search.

Everything here only reads; changes go through the public JSON API, called from the pages' JavaScript.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
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
from itsm_ai.group.models import Group
from itsm_ai.knowledge.article.models import KnowledgeArticle
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import like_pattern
from itsm_ai.records.spec import Action, RecordSpec
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


def queue(
    *,
    db_session: Session,
    record_type: str = "incident",
    groups: list[str] | None = None,
    states: list[str] | None = None,
    priorities: list[int] | None = None,
    sort: str = "sla",
    limit: int = 100,
) -> tuple[list[QueueRow], int]:
    """Open (or filtered) tickets with their resolution SLA deadline, soonest due first by default."""
    spec = QUEUE_TYPES[record_type]
    model = spec.model
    sla = aliased(TicketSla)
    join = and_(sla.record_type == spec.record_type, sla.record_id == model.id, sla.kind == "resolution")
    conds = [model.state.in_(states or OPEN_STATES[record_type])]
    if groups:
        group_ids = select(Group.id).where(Group.name.in_(groups))
        conds.append(model.assignment_group_id.in_(group_ids))
    if priorities:
        conds.append(model.priority.in_(priorities))
    if sort == "priority":
        order = (model.priority.asc(), model.opened_at.asc(), model.id)
    elif sort == "opened":
        order = (model.opened_at.desc(), model.id.desc())
    else:
        # Tickets without a clock go last; NULLS LAST is spelled differently per database.
        order = (case((sla.deadline.is_(None), 1), else_=0), sla.deadline.asc(), model.priority, model.id)
    stmt = (
        select(model, sla.deadline, sla.stage, sla.breached)
        .outerjoin(sla, join)
        .where(*conds)
        .order_by(*order)
        .limit(limit)
    )
    rows = [
        QueueRow(record_service.serialize(spec, obj), deadline, stage, bool(breached))
        for obj, deadline, stage, breached in db_session.execute(stmt).unique()
    ]
    total = db_session.scalar(select(func.count()).select_from(model).where(*conds)) or 0
    return rows, total


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
