"""Article reader feedback: "was this helpful" votes and view counts.

Counters are changed with Core UPDATEs that leave ``version`` alone: a reader's vote or visit is not an
edit, and must not make an author's pending update fail with 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from itsm_ai.base.roles import STAFF
from itsm_ai.base.states import ArticleState
from itsm_ai.errors import PermissionDeniedError
from itsm_ai.knowledge.article.models import ArticleFeedback, FeedbackCreate, KnowledgeArticle


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
    if article.state == ArticleState.published:
        _set_counters(db_session, article, view_count=1)


def give_feedback(
    *, db_session: Session, article: KnowledgeArticle, user, feedback_in: FeedbackCreate
) -> dict[str, Any]:
    """Record a reader's vote; a second vote by the same reader replaces the first.

    Votes are on published articles; on a draft (or one in review, retired) only the staff who work on it
    may leave one, so a data scientist's vote cannot skew an article before it is published."""
    if article.state != ArticleState.published and user.role not in STAFF:
        raise PermissionDeniedError(
            f"state: {article.number} is {article.state}; only published articles take feedback",
            field="state",
        )
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
