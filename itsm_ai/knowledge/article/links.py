"""An article's source tickets: the links kept in line with its ``source_tickets`` list.

Drafting reads them to tell which resolved tickets an article already covers.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from itsm_ai.knowledge.article.models import ArticleTicketLink, KnowledgeArticle
from itsm_ai.ticket.models import Change, Incident, Problem, ServiceRequest

TICKET_MODELS = {"INC": Incident, "PRB": Problem, "CHG": Change, "REQ": ServiceRequest}


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
