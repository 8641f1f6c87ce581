"""What the knowledge pages read: the article search (semantic ranking, then words), one article with the
read check, the review list, the console's article list and the text versions from the audit trail."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, desc, func, or_, select
from sqlalchemy.orm import Session

from itsm_ai.audit.models import AuditEvent
from itsm_ai.auth.models import User
from itsm_ai.base.roles import Role
from itsm_ai.base.states import ArticleState
from itsm_ai.knowledge.article.models import KnowledgeArticle
from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.records import service as record_service
from itsm_ai.records.listing import like_pattern, search_condition
from itsm_ai.records.spec import Action

log = logging.getLogger(__name__)
# Nearest neighbours always exist: below this similarity an article is not shown as a search result.
MIN_SCORE = 0.2
_WORD = re.compile(r"[\w'-]{3,}", re.UNICODE)


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
