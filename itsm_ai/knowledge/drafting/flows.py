"""Drafting flows: cluster resolved tickets no published article covers, draft one article per cluster (state
review, never published), and the knowledge-gap and stale-article reports."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.base.states import ArticleState
from itsm_ai.database import utcnow
from itsm_ai.knowledge.article.links import linked_tickets
from itsm_ai.knowledge.article.models import ArticleTicketLink, KnowledgeArticle
from itsm_ai.knowledge.article.service import ARTICLE as ARTICLE_SPEC
from itsm_ai.knowledge.drafting.clustering import find_knowledge_gaps, stale_articles
from itsm_ai.knowledge.drafting.extractive import ExtractiveDrafter
from itsm_ai.knowledge.drafting.generative import GenerativeDrafter
from itsm_ai.knowledge.drafting.schemas import DraftRequest
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval.documents import ARTICLE, INCIDENT, RESOLVED_STATES, doc_for, make_key
from itsm_ai.records import service as records
from itsm_ai.ticket.models import Incident

log = logging.getLogger(__name__)


def make_drafter(settings) -> ExtractiveDrafter | GenerativeDrafter:
    """The generative drafter when an OpenAI-compatible endpoint is configured, else the extractive one."""
    extractive = ExtractiveDrafter()
    if settings.knowledge_llm_base_url and settings.knowledge_llm_model:
        return GenerativeDrafter(
            settings.knowledge_llm_base_url,
            settings.knowledge_llm_api_key,
            settings.knowledge_llm_model,
            settings.knowledge_llm_timeout_seconds,
            fallback=extractive,
        )
    return extractive


def _resolved_incidents(
    db_session: Session, *, days: int | None, category: str | None, limit: int, uncovered_only: bool
) -> list[Incident]:
    stmt = select(Incident).where(
        Incident.state.in_(RESOLVED_STATES),
        Incident.resolution_notes.isnot(None),
        Incident.resolution_notes != "",
    )
    if days is not None:
        stmt = stmt.where(Incident.resolved_at >= utcnow() - timedelta(days=days))
    if category is not None:
        stmt = stmt.where(Incident.category == category)
    if uncovered_only:
        # Tickets an article (published, or a draft waiting for review) already came from are covered.
        linked = select(ArticleTicketLink.record_id).where(ArticleTicketLink.record_type == INCIDENT)
        stmt = stmt.where(Incident.id.notin_(linked))
    stmt = stmt.order_by(Incident.resolved_at.desc().nulls_last(), Incident.id.desc()).limit(limit)
    return list(db_session.scalars(stmt))


def _vectors(service: retrieval.RetrievalService, record_type: str, objs: list[Any]) -> np.ndarray:
    """Stored vectors where the index has them; the rest embedded now."""
    dim = service.encoder.dimension
    out = np.zeros((len(objs), dim), dtype=np.float32)
    missing = []
    for row, obj in enumerate(objs):
        key = make_key(record_type, obj.id)
        vec = service.index.get_vector(key) if service.index is not None else None
        if vec is None:
            missing.append(row)
        else:
            out[row] = vec
    if missing:
        texts = [doc_for(record_type, objs[r]).text if record_type == ARTICLE
                 else f"{objs[r].short_description}\n{objs[r].description or ''}" for r in missing]
        out[missing] = service.encoder.encode(texts)
    return out


def _published(db_session: Session) -> list[KnowledgeArticle]:
    return list(
        db_session.scalars(select(KnowledgeArticle).where(KnowledgeArticle.state == ArticleState.published))
    )


def _ticket_dict(obj: Incident) -> dict[str, Any]:
    return {
        "number": obj.number,
        "short_description": obj.short_description,
        "description": obj.description,
        "resolution_notes": obj.resolution_notes,
        "caller": obj.caller_ref.full_name if obj.caller_ref is not None else None,
        "assigned_to": obj.assigned_to_ref.full_name if obj.assigned_to_ref is not None else None,
    }


def generate(*, db_session: Session, actor, request: DraftRequest) -> dict[str, Any]:
    """Draft one article per uncovered cluster of resolved tickets and send each to review."""
    service = retrieval.get_service()
    service.ensure_ready(db_session)
    settings = service.settings
    tickets = _resolved_incidents(
        db_session, days=request.days, category=request.category,
        limit=settings.knowledge_draft_max_tickets, uncovered_only=True,
    )
    min_size = request.min_cluster_size or settings.knowledge_draft_min_cluster
    result: dict[str, Any] = {"tickets": len(tickets), "clusters": 0, "drafts": []}
    if len(tickets) < min_size:
        return result
    ticket_vectors = _vectors(service, INCIDENT, tickets)
    published = _published(db_session)
    article_vectors = (
        _vectors(service, ARTICLE, published) if published else np.zeros((0, ticket_vectors.shape[1]))
    )
    gaps = find_knowledge_gaps(
        ticket_vectors,
        list(range(len(tickets))),
        article_vectors,
        [a.id for a in published],
        coverage_threshold=settings.knowledge_gap_coverage,
        distance_threshold=request.distance_threshold or settings.knowledge_draft_distance,
        min_cluster_size=min_size,
    )
    result["clusters"] = len(gaps)
    drafter = make_drafter(settings)
    for gap in gaps[: request.max_drafts]:
        members = [tickets[i] for i in gap.ticket_ids]
        draft = drafter.draft([_ticket_dict(t) for t in members])
        categories = Counter(t.category for t in members if t.category)
        article = records.create(
            db_session=db_session,
            spec=ARTICLE_SPEC,
            data=ARTICLE_SPEC.create_schema(
                short_description=(draft.title or members[0].short_description)[:255],
                text=draft.to_markdown(),
                category=categories.most_common(1)[0][0] if categories else None,
                source_tickets=draft.source_numbers,
            ).model_dump(),
            actor=actor,
        )
        article = records.update(
            db_session=db_session, spec=ARTICLE_SPEC, obj=article,
            data={"version": article.version, "state": ArticleState.review.value}, actor=actor,
        )
        result["drafts"].append(
            {
                "number": article.number,
                "short_description": article.short_description,
                "state": article.state,
                "source_tickets": draft.source_numbers,
                "method": draft.method,
                "confidence": draft.confidence,
                "notes": draft.notes,
            }
        )
    return result


def gaps(
    *, db_session: Session, days: int | None = 90, min_cluster_size: int | None = None
) -> dict[str, Any]:
    """Clusters of recently resolved tickets that no published article covers, largest first."""
    service = retrieval.get_service()
    service.ensure_ready(db_session)
    settings = service.settings
    tickets = _resolved_incidents(
        db_session, days=days, category=None, limit=settings.knowledge_draft_max_tickets, uncovered_only=False
    )
    min_size = min_cluster_size or settings.knowledge_draft_min_cluster
    if len(tickets) < min_size:
        return {"tickets": len(tickets), "items": []}
    ticket_vectors = _vectors(service, INCIDENT, tickets)
    published = _published(db_session)
    article_vectors = (
        _vectors(service, ARTICLE, published) if published else np.zeros((0, ticket_vectors.shape[1]))
    )
    numbers = {a.id: a.number for a in published}
    found = find_knowledge_gaps(
        ticket_vectors,
        list(range(len(tickets))),
        article_vectors,
        [a.id for a in published],
        coverage_threshold=settings.knowledge_gap_coverage,
        distance_threshold=settings.knowledge_draft_distance,
        min_cluster_size=min_size,
    )
    items = [
        {
            "size": gap.size,
            "tickets": [tickets[i].number for i in gap.ticket_ids],
            "sample": [tickets[i].short_description for i in gap.ticket_ids[:3]],
            "max_article_similarity": gap.max_article_similarity,
            "nearest_article": numbers.get(gap.nearest_article),
            "member_coverage": gap.member_coverage,
        }
        for gap in found
    ]
    return {"tickets": len(tickets), "items": items}


def stale(*, db_session: Session, days: int | None = 180, min_recent: int = 3) -> dict[str, Any]:
    """Published articles whose linked or nearest recent tickets were resolved differently."""
    service = retrieval.get_service()
    service.ensure_ready(db_session)
    settings = service.settings
    published = _published(db_session)
    if not published:
        return {"items": []}
    tickets = _resolved_incidents(
        db_session, days=days, category=None, limit=settings.knowledge_draft_max_tickets, uncovered_only=False
    )
    if not tickets:
        return {"items": []}
    article_vectors = _vectors(service, ARTICLE, published)
    by_id = {t.id: t for t in tickets}
    assigned: dict[int, list[Incident]] = {}
    # Tickets an article explicitly came from or cites...
    for article_id, links in linked_tickets(db_session, [a.id for a in published]).items():
        for record_type, record_id in links:
            if record_type == INCIDENT and record_id in by_id:
                assigned.setdefault(article_id, []).append(by_id[record_id])
    # ...and recent tickets whose problem the article matches best.
    ticket_vectors = _vectors(service, INCIDENT, tickets)
    sims = ticket_vectors @ article_vectors.T
    best = sims.argmax(axis=1)
    for row, ticket in enumerate(tickets):
        if sims[row, best[row]] >= settings.knowledge_gap_coverage:
            bucket = assigned.setdefault(published[int(best[row])].id, [])
            if ticket not in bucket:
                bucket.append(ticket)
    recent = {aid: ts for aid, ts in assigned.items() if len(ts) >= min_recent}
    if not recent:
        return {"items": []}
    fixes = {
        aid: service.encoder.encode([t.resolution_notes or "" for t in ts]) for aid, ts in recent.items()
    }
    article_by_id = {a.id: (a, article_vectors[i]) for i, a in enumerate(published)}
    found = stale_articles(
        {aid: article_by_id[aid][1] for aid in recent}, fixes, min_recent=min_recent
    )
    items = []
    for item in found:
        article = article_by_id[item.article_id][0]
        ticket = recent[item.article_id][item.representative_index]
        items.append(
            {
                "article": article.number,
                "short_description": article.short_description,
                "median_similarity": item.median_similarity,
                "recent_count": item.recent_count,
                "recent_agreement": item.recent_agreement,
                "representative_ticket": ticket.number,
                "representative_fix": ticket.resolution_notes,
            }
        )
    return {"items": items}

