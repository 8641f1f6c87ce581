"""Article reader features: "was this helpful" votes, view counts and links to source tickets.

Counters are changed with Core UPDATEs that leave ``version`` alone: a reader's vote or visit is not an
edit, and must not make an author's pending update fail with 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.knowledge.models import ArticleFeedback, ArticleTicketLink, FeedbackCreate, KnowledgeArticle
from itsm_ai.ticket.models import Change, Incident, Problem, ServiceRequest

TICKET_MODELS = {"INC": Incident, "PRB": Problem, "CHG": Change, "REQ": ServiceRequest}


def _set_counters(db_session: Session, article: KnowledgeArticle, **deltas: int) -> None:
    table = KnowledgeArticle.__table__
    values = {name: table.c[name] + delta for name, delta in deltas.items()}
    values["updated_at"] = table.c.updated_at  # a read or a vote is not an edit: keep updated_at
    db_session.execute(update(table).where(table.c.id == article.id).values(**values))
    row = db_session.execute(
        select(*(table.c[name] for name in deltas)).where(table.c.id == article.id)
    ).one()
    for name, value in zip(deltas, row, strict=True):
        set_committed_value(article, name, value)


def count_view(*, db_session: Session, article: KnowledgeArticle) -> None:
    """Count one read of a published article (authors and reviewers reading drafts are not readers)."""
    if article.state == "published":
        _set_counters(db_session, article, view_count=1)


def give_feedback(
    *, db_session: Session, article: KnowledgeArticle, user, feedback_in: FeedbackCreate
) -> dict[str, Any]:
    """Record a reader's vote; a second vote by the same reader replaces the first."""
    earlier = db_session.scalar(
        select(ArticleFeedback).where(
            ArticleFeedback.article_id == article.id, ArticleFeedback.user_id == user.id
        )
    )
    deltas = {"helpful_count": 0, "not_helpful_count": 0}
    if earlier is not None:
        deltas["helpful_count" if earlier.helpful else "not_helpful_count"] -= 1
        earlier.helpful = feedback_in.helpful
        earlier.comment = feedback_in.comment
    else:
        db_session.add(
            ArticleFeedback(
                article_id=article.id,
                user_id=user.id,
                helpful=feedback_in.helpful,
                comment=feedback_in.comment,
            )
        )
    deltas["helpful_count" if feedback_in.helpful else "not_helpful_count"] += 1
    db_session.flush()
    _set_counters(db_session, article, **deltas)
    return {
        "article": article.number,
        "helpful": feedback_in.helpful,
        "comment": feedback_in.comment,
        "helpful_count": article.helpful_count,
        "not_helpful_count": article.not_helpful_count,
    }


def resolve_tickets(db_session: Session, numbers: list[str]) -> list[tuple[str, int, str]]:
    """(record_type, id, number) of the ticket numbers that exist; unknown numbers are skipped."""
    found = []
    for number in dict.fromkeys(n.strip().upper() for n in numbers if n and n.strip()):
        model = TICKET_MODELS.get(number[:3])
        if model is None:
            continue
        record_id = db_session.scalar(select(model.id).where(model.number == number))
        if record_id is not None:
            found.append((model.record_type, record_id, number))
    return found


def sync_links(*, db_session: Session, article: KnowledgeArticle) -> int:
    """Make the article's ticket links match its source_tickets list; returns the number of links."""
    found = resolve_tickets(db_session, list(article.source_tickets or []))
    db_session.execute(delete(ArticleTicketLink).where(ArticleTicketLink.article_id == article.id))
    if found:
        db_session.execute(
            insert(ArticleTicketLink),
            [
                {"article_id": article.id, "record_type": rt, "record_id": rid, "number": number}
                for rt, rid, number in found
            ],
        )
    return len(found)


def linked_tickets(
    db_session: Session, article_ids: list[int] | None = None
) -> dict[int, list[tuple[str, int]]]:
    """article id -> [(record_type, record id)] of its source tickets."""
    stmt = select(ArticleTicketLink.article_id, ArticleTicketLink.record_type, ArticleTicketLink.record_id)
    if article_ids is not None:
        stmt = stmt.where(ArticleTicketLink.article_id.in_(article_ids))
    out: dict[int, list[tuple[str, int]]] = {}
    for article_id, record_type, record_id in db_session.execute(stmt):
        out.setdefault(article_id, []).append((record_type, record_id))
    return out


def on_article_event(db_session: Session, event) -> None:
    """Keep ticket links in line with an article's source_tickets."""
    if event.record_type != "knowledge_article" or event.kind not in ("created", "updated"):
        return
    if event.kind == "created" or "source_tickets" in event.changed_fields:
        sync_links(db_session=db_session, article=event.record)
