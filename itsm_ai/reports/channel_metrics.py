"""The self-service reports: virtual-agent deflection (conversations) and knowledge use (votes, articles).

- deflection: virtual-agent conversations started in the period by outcome; deflection_rate = deflected /
  (deflected + ticket_created + handed_off): of the conversations that needed an answer, the share solved
  without a ticket or a person.
- knowledge: "was this helpful" votes cast in the period (a changed vote counts when last cast) and articles
  published; `views` are the articles' lifetime read counts (the store counts reads without logging them),
  given only with interval=all.
"""

from __future__ import annotations

from itsm_ai.chat.models import Conversation
from itsm_ai.knowledge.article.models import ArticleFeedback, KnowledgeArticle
from itsm_ai.reports import queries, stats
from itsm_ai.reports.context import Context, Figures, figure, merge
from itsm_ai.reports.enums import Interval
from itsm_ai.reports.queries import Walk, count_where, sum_where

CONVERSATIONS = Conversation.__table__
VOTES = ArticleFeedback.__table__
ARTICLES = KnowledgeArticle.__table__

OUTCOMES = ("deflected", "ticket_created", "handed_off", "abandoned")


def deflection(ctx: Context) -> dict[tuple, list[Figures]]:
    """Virtual-agent conversations started in the period, by outcome."""
    c = CONVERSATIONS
    sums = {"conversations": count_where(), **{o: count_where(c.c.outcome == o) for o in OUTCOMES}}
    sums["open"] = count_where(c.c.outcome.is_(None))
    group = c.c.intent if ctx.group_by else None
    result = queries.run(ctx.db_session, Walk(c, "started_at", sums, epoch=False), ctx.periods, group=group)
    merged = merge([result], len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            row = {name: figure(f, name) for name in ("conversations", *OUTCOMES, "open")}
            answered = row["deflected"] + row["ticket_created"] + row["handed_off"]
            row["deflection_rate"] = stats.rate(row["deflected"], answered)
            out[key].append(row)
    return out


def knowledge(ctx: Context) -> dict[tuple, list[Figures]]:
    """Helpful votes and publications per period; lifetime views with interval=all."""
    v, a = VOTES, ARTICLES
    joined = v.join(a, a.c.id == v.c.article_id)
    group = {"article": a.c.number, "category": a.c.category}.get(ctx.group_by or "")
    votes = Walk(
        joined,
        v.c.updated_at,
        {"helpful": count_where(v.c.helpful.is_(True)), "not_helpful": count_where(v.c.helpful.is_(False))},
        epoch=False,
    )
    published = Walk(a, "published_at", {"published": count_where()}, epoch=False)
    parts = [queries.run(ctx.db_session, votes, ctx.periods, group=group)]
    parts.append(queries.run(ctx.db_session, published, ctx.periods, group=group))
    if ctx.interval == Interval.all:
        views = queries.scalar_query(ctx.db_session, a, {"views": sum_where(a.c.view_count)}, [], group)
        parts.append({(0, key): figures for key, figures in views.items()})
    merged = merge(parts, len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            helpful, not_helpful = figure(f, "helpful"), figure(f, "not_helpful")
            out[key].append(
                {
                    "helpful": helpful,
                    "not_helpful": not_helpful,
                    "helpful_rate": stats.rate(helpful, helpful + not_helpful),
                    "published": figure(f, "published"),
                    "views": figure(f, "views") if ctx.interval == Interval.all else None,
                }
            )
    return out
