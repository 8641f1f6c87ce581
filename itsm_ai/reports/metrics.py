"""What each report counts: its walks over the facts (or the chat and knowledge tables) and its figures.

Definitions (all periods in the report's time zone; a ticket counts in the period its own event falls in):

- volume: `opened`, `resolved`, `closed` by their own times.
- backlog: open at the end of each period (opened before it, not yet resolved, closed, cancelled or
  rejected), with `opened` and `ended` (left the backlog) in the period and the backlog's age at the period
  end in buckets (age_0_1d: up to 1 day old, ... age_30d_plus: over 30 days).
- resolution-time: for tickets resolved in the period, time from opening to resolution, wall clock and
  business hours on the calendar of the ticket's SLA policy (mean, median, p90, in hours; business figures
  cover the tickets that have an SLA clock), with a histogram (resolved_0_1h ... resolved_7d_plus); for
  tickets first responded to in the period (left their intake states), the same for the first response.
- sla-compliance: tickets opened in the period by the stage of their SLA clocks (the SLA engine's own: met,
  breached, in progress or warning, paused, cancelled; a running clock past its deadline is breached). An
  imported ticket without a clock counts with the verdict its source recorded (ServiceNow made_sla):
  `from_source` says how many. compliance = met / (met + breached); the same for the response clock.
- reassignment, reopen, first-contact-resolution: incidents resolved in the period; share resolved without
  reassignment, share reopened, share resolved with neither (first contact).
- deflection: virtual-agent conversations started in the period by outcome; deflection_rate = deflected /
  (deflected + ticket_created + handed_off): of the conversations that needed an answer, the share solved
  without a ticket or a person.
- knowledge: "was this helpful" votes cast in the period (a changed vote counts when last cast) and articles
  published; `views` are the articles' lifetime read counts (the store counts reads without logging them),
  given only with interval=all.
- ai: triage suggestions on tickets opened in the period, per field, model and version: `tickets` with a
  triage entry, `suggested` (shown or auto-applied), coverage = suggested / tickets, accept and override
  rates = agents' accepts and overrides / suggested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.base.levels import PRIORITY_LABELS
from itsm_ai.chat.models import Conversation
from itsm_ai.group.models import Group
from itsm_ai.knowledge.article.models import ArticleFeedback, KnowledgeArticle
from itsm_ai.reports import queries, stats
from itsm_ai.reports.enums import (
    AGE_BOUNDS,
    AGE_COLUMNS,
    RESOLVE_BOUNDS,
    RESOLVE_COLUMNS,
    RESOLVED_STATES,
    SLA_RUNNING,
    Dimension,
    Interval,
    Metric,
)
from itsm_ai.reports.models import ReportSuggestion, ReportSuggestionHour, ReportTicket
from itsm_ai.reports.periods import Period
from itsm_ai.reports.queries import Values, Walk, count_where, null_or_after

TICKETS = ReportTicket.__table__
SUGGESTIONS = ReportSuggestion.__table__
HOURS = ReportSuggestionHour.__table__
CONVERSATIONS = Conversation.__table__
VOTES = ArticleFeedback.__table__
ARTICLES = KnowledgeArticle.__table__

# group_by dimension -> fact column.
DIMENSION_COLUMNS = {
    Dimension.type: "record_type",
    Dimension.group: "assignment_group_id",
    Dimension.category: "category",
    Dimension.priority: "priority",
    Dimension.assignee: "assigned_to_id",
    Dimension.state: "state",
}
QUANTILE_NAMES = tuple(stats.QUANTILES)


@dataclass
class Context:
    """One report's inputs, resolved: periods, ticket types, fact-column filters, grouping and now."""

    db_session: Session
    periods: list[Period]
    interval: Interval
    types: tuple[str, ...]
    filters: dict[str, tuple[Any, ...]]
    group_by: str | None
    now: int
    walks: list[dict] = field(default_factory=list)

    def scope(self, table) -> list[ColumnElement]:
        """The ticket filters on a fact table."""
        out = [table.c.record_type.in_(self.types)]
        out += [table.c[column].in_(values) for column, values in self.filters.items()]
        return out

    def group(self, table) -> ColumnElement | None:
        """The group_by column of a fact table (None without group_by)."""
        return table.c[DIMENSION_COLUMNS[Dimension(self.group_by)]] if self.group_by else None

    def tickets(self, walk: Walk, table=TICKETS) -> dict:
        """Run a walk over a fact table with the ticket scope and grouping."""
        return queries.run(
            self.db_session, walk, self.periods, scope=self.scope(table), group=self.group(table)
        )


Figures = dict[str, Any]


def _merge(
    parts: Sequence[Mapping[tuple[int, tuple], Figures]], n_periods: int, *, empty: tuple | None = (None,)
) -> dict[tuple, list[Figures]]:
    """{key: [figures of period 0, 1, ...]} from walk results, every key in every period (missing = {}).

    Without any row at all the report still has one key, `empty` (zero rows per period), unless it is None.
    """
    keys = sorted({key for part in parts for (_, key) in part}, key=_sort_key)
    if not keys and empty is not None:
        keys = [empty]
    out: dict[tuple, list[Figures]] = {key: [{} for _ in range(n_periods)] for key in keys}
    for part in parts:
        for (period, key), figures in part.items():
            out[key][period].update(figures)
    return out


def _sort_key(key: tuple) -> tuple:
    return tuple((v is not None, str(v) if not isinstance(v, int | float) else f"{v:020.6f}") for v in key)


def _n(figures: Figures, name: str) -> float:
    value = figures.get(name)
    return 0 if value is None else value


def _summary(figures: Figures, name: str, bounds: Sequence[int] = ()) -> dict[str, Any]:
    empty = {
        "n": 0,
        "mean": None,
        "quantiles": [None] * len(QUANTILE_NAMES),
        "buckets": [0] * (len(bounds) + 1),
    }
    return figures.get(name) or empty


def _hours_figures(prefix: str, summary: dict[str, Any]) -> Figures:
    out = {f"{prefix}_hours_mean": stats.hours(summary["mean"])}
    for name, value in zip(QUANTILE_NAMES, summary["quantiles"], strict=True):
        out[f"{prefix}_hours_{name}"] = stats.hours(value)
    return out


def _bucket_sums(age: ColumnElement, bounds: Sequence[int], names: Sequence[str]) -> dict[str, ColumnElement]:
    """count_where per bucket of `age` (upper bounds included; the last bucket is open-ended)."""
    sums = {}
    lower = None
    for bound, name in zip([*bounds, None], names, strict=True):
        conditions = []
        if lower is not None:
            conditions.append(age > lower)
        if bound is not None:
            conditions.append(age <= bound)
        sums[name] = count_where(*conditions) if conditions else func.count()
        lower = bound
    return sums


# ----------------------------------------------------------------------------------------------- tickets


def volume(ctx: Context) -> dict[tuple, list[Figures]]:
    """Opened, resolved and closed per period."""
    t = TICKETS
    parts = [
        ctx.tickets(Walk(t, "opened_at", {"opened": func.count()})),
        ctx.tickets(Walk(t, "resolved_at", {"resolved": func.count()})),
        ctx.tickets(Walk(t, "closed_at", {"closed": func.count()})),
    ]
    merged = _merge(parts, len(ctx.periods))
    return {
        key: [{name: _n(f, name) for name in ("opened", "resolved", "closed")} for f in rows]
        for key, rows in merged.items()
    }


def backlog(ctx: Context) -> dict[tuple, list[Figures]]:
    """Open tickets at each period end, by age, from what entered, aged and left in each period."""
    t = TICKETS
    opened, ended = t.c.opened_at, t.c.ended_at
    walks = [
        ctx.tickets(Walk(t, "opened_at", {"opened": func.count()})),
        ctx.tickets(
            Walk(
                t,
                "ended_at",
                {"ended": func.count(), **_bucket_sums(ended - opened, AGE_BOUNDS, _ended(AGE_COLUMNS))},
            )
        ),
    ]
    # A ticket moves up one age bucket when it reaches each bound while still open: those crossings are the
    # tickets whose opened_at + bound falls in the period (an index range shifted by the bound). One walk per
    # bound: folding them into one walk over a widened range measured slower (more rows, more conditions).
    for k, bound in enumerate(AGE_BOUNDS):
        sums = {f"crossed_{k}": func.count()}
        where = [null_or_after(ended, opened + bound)]
        walks.append(ctx.tickets(Walk(t, "opened_at", sums, where=where, shift=bound)))
    initial = _open_at(ctx, ctx.periods[0].start)
    merged = _merge([*walks, {(0, key): figures for key, figures in initial.items()}], len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        start = [_n(rows[0], f"initial_{c}") for c in AGE_COLUMNS]
        moves = []
        for f in rows:
            delta = [0.0] * len(AGE_COLUMNS)
            delta[0] += _n(f, "opened")
            for k in range(len(AGE_BOUNDS)):
                crossed = _n(f, f"crossed_{k}")
                delta[k] -= crossed
                delta[k + 1] += crossed
            for k, column in enumerate(_ended(AGE_COLUMNS)):
                delta[k] -= _n(f, column)
            moves.append(delta)
        counts = stats.bucket_counts(moves, start)
        out[key] = [
            {
                "opened": _n(f, "opened"),
                "ended": _n(f, "ended"),
                "backlog": int(round(sum(c))),
                **{column: int(round(v)) for column, v in zip(AGE_COLUMNS, c, strict=True)},
            }
            for f, c in zip(rows, counts, strict=True)
        ]
    return out


def _ended(columns: Sequence[str]) -> list[str]:
    return [f"ended_{c}" for c in columns]


def _open_at(ctx: Context, instant: int) -> dict[tuple, Figures]:
    """Tickets open at an instant by age bucket ({(group,): {initial_age_...: n}})."""
    t = TICKETS
    age = instant - t.c.opened_at
    sums = {f"initial_{name}": expr for name, expr in _bucket_sums(age, AGE_BOUNDS, AGE_COLUMNS).items()}
    where = [*ctx.scope(t), t.c.opened_at < instant, or_(t.c.ended_at.is_(None), t.c.ended_at >= instant)]
    return queries.scalar_query(ctx.db_session, t, sums, where, ctx.group(t))


def resolution_time(ctx: Context) -> dict[tuple, list[Figures]]:
    """Time to resolve (by resolution period) and to first response (by response period)."""
    t = TICKETS
    resolved = Walk(
        t,
        "resolved_at",
        {},
        values={
            "resolve": Values(t.c.resolved_at - t.c.opened_at, RESOLVE_BOUNDS),
            "resolve_business": Values(t.c.resolve_business_seconds),
        },
    )
    responded = Walk(
        t,
        "first_response_at",
        {},
        values={
            "response": Values(t.c.first_response_at - t.c.opened_at),
            "response_business": Values(t.c.response_business_seconds),
        },
    )
    merged = _merge([ctx.tickets(resolved), ctx.tickets(responded)], len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            resolve = _summary(f, "resolve", RESOLVE_BOUNDS)
            resolve_business, response = _summary(f, "resolve_business"), _summary(f, "response")
            response_business = _summary(f, "response_business")
            out[key].append(
                {
                    "resolved": resolve["n"],
                    **_hours_figures("resolve", resolve),
                    "resolved_business": resolve_business["n"],
                    **_hours_figures("resolve_business", resolve_business),
                    **dict(zip(RESOLVE_COLUMNS, resolve["buckets"], strict=True)),
                    "responded": response["n"],
                    **_hours_figures("response", response),
                    "responded_business": response_business["n"],
                    **_hours_figures("response_business", response_business),
                }
            )
    return out


def _clock_sums(prefix: str, stage: ColumnElement, deadline: ColumnElement, now: int, source=None):
    t = TICKETS
    running = stage.in_(SLA_RUNNING)
    ended = t.c.state.in_(sorted(RESOLVED_STATES))
    no_clock = stage.is_(None)
    met = [stage == "met"]
    breached = [stage == "breached", and_(running, deadline <= now)]
    in_progress = [and_(running, or_(deadline.is_(None), deadline > now))]
    sums = {}
    if source is not None:
        met.append(and_(no_clock, source.is_(True), ended))
        breached.append(and_(no_clock, source.is_(False)))
        in_progress.append(and_(no_clock, source.is_(True), not_(ended)))
        sums["from_source"] = count_where(no_clock, source.isnot(None))
        sums["no_sla"] = count_where(no_clock, source.is_(None))
    else:
        sums["no_sla"] = count_where(no_clock)
    sums.update(
        {
            "met": count_where(or_(*met)),
            "breached": count_where(or_(*breached)),
            "in_progress": count_where(or_(*in_progress)),
            "paused": count_where(stage == "paused"),
            "cancelled": count_where(stage == "cancelled"),
        }
    )
    return {f"{prefix}{name}": expr for name, expr in sums.items()}


def sla_compliance(ctx: Context) -> dict[tuple, list[Figures]]:
    """Tickets opened in the period by the outcome of their resolution and response clocks."""
    t = TICKETS
    sums = {
        "tickets": func.count(),
        **_clock_sums("", t.c.sla_stage, t.c.sla_deadline, ctx.now, t.c.source_made_sla),
        **_clock_sums("response_", t.c.response_stage, t.c.response_deadline, ctx.now),
    }
    merged = _merge([ctx.tickets(Walk(t, "opened_at", sums))], len(ctx.periods))
    order = ["tickets", "met", "breached", "in_progress", "paused", "cancelled", "no_sla", "from_source"]
    response = ["met", "breached", "in_progress", "paused", "cancelled", "no_sla"]
    out = {}
    for key, rows in merged.items():
        out[key] = [
            {
                **{name: _n(f, name) for name in order},
                "compliance": stats.rate(_n(f, "met"), _n(f, "met") + _n(f, "breached")),
                **{f"response_{name}": _n(f, f"response_{name}") for name in response},
                "response_compliance": stats.rate(
                    _n(f, "response_met"), _n(f, "response_met") + _n(f, "response_breached")
                ),
            }
            for f in rows
        ]
    return out


def _resolved_walk(ctx: Context, sums: dict[str, ColumnElement]) -> dict[tuple, list[Figures]]:
    t = TICKETS
    walk = Walk(
        t, "resolved_at", {"resolved": func.count(), **sums}, where=[t.c.reassignment_count.isnot(None)]
    )
    return _merge([ctx.tickets(walk)], len(ctx.periods))


def reassignment(ctx: Context) -> dict[tuple, list[Figures]]:
    """Resolved incidents and how many were never reassigned."""
    t = TICKETS
    merged = _resolved_walk(
        ctx,
        {
            "without": count_where(t.c.reassignment_count == 0),
            "reassignments": func.coalesce(func.sum(t.c.reassignment_count), 0),
        },
    )
    return {
        key: [
            {
                "resolved": _n(f, "resolved"),
                "resolved_without_reassignment": _n(f, "without"),
                "share_without_reassignment": stats.rate(_n(f, "without"), _n(f, "resolved")),
                "reassignments": _n(f, "reassignments"),
                "mean_reassignments": stats.rate(_n(f, "reassignments"), _n(f, "resolved")),
            }
            for f in rows
        ]
        for key, rows in merged.items()
    }


def reopen(ctx: Context) -> dict[tuple, list[Figures]]:
    """Resolved incidents and how many had been reopened."""
    t = TICKETS
    merged = _resolved_walk(
        ctx,
        {
            "reopened": count_where(t.c.reopen_count > 0),
            "reopens": func.coalesce(func.sum(t.c.reopen_count), 0),
        },
    )
    return {
        key: [
            {
                "resolved": _n(f, "resolved"),
                "reopened": _n(f, "reopened"),
                "reopen_rate": stats.rate(_n(f, "reopened"), _n(f, "resolved")),
                "reopens": _n(f, "reopens"),
            }
            for f in rows
        ]
        for key, rows in merged.items()
    }


def first_contact_resolution(ctx: Context) -> dict[tuple, list[Figures]]:
    """Resolved incidents never reassigned and never reopened."""
    t = TICKETS
    merged = _resolved_walk(ctx, {"first": count_where(t.c.reassignment_count == 0, t.c.reopen_count == 0)})
    return {
        key: [
            {
                "resolved": _n(f, "resolved"),
                "first_contact": _n(f, "first"),
                "first_contact_rate": stats.rate(_n(f, "first"), _n(f, "resolved")),
            }
            for f in rows
        ]
        for key, rows in merged.items()
    }


def _on_hours(ctx: Context) -> bool:
    """True when the hourly counts answer exactly: no ticket filter or grouping, and periods of whole UTC
    hours (a range ending now may end mid-hour: no ticket is opened after now)."""
    if ctx.filters or ctx.group_by:
        return False
    hour = 3600
    return all(p.start % hour == 0 and (p.end % hour == 0 or p.end >= ctx.now) for p in ctx.periods)


def ai(ctx: Context) -> dict[tuple, list[Figures]]:
    """Triage suggestions per field, model and version: coverage, accept and override rates."""
    hourly = _on_hours(ctx)
    s = HOURS if hourly else SUGGESTIONS
    shown = s.c.status.in_(("suggested", "applied"))

    def count(*conditions):
        # The hourly rows carry how many tickets they stand for; the facts are one ticket each.
        if not hourly:
            return count_where(*conditions) if conditions else func.count()
        total = func.sum(s.c.tickets)
        return func.coalesce(total.filter(and_(*conditions)) if conditions else total, 0)

    walk = Walk(
        s,
        "hour" if hourly else "opened_at",
        {
            "tickets": count(),
            "suggested": count(shown),
            "applied": count(s.c.status == "applied"),
            "abstained": count(s.c.status == "abstained"),
            "unavailable": count(s.c.status.in_(("unavailable", "off"))),
            "accepted": count(shown, s.c.feedback == "accepted"),
            "overridden": count(shown, s.c.feedback == "overridden"),
        },
        keys=[s.c.field, s.c.model, s.c.model_version],
    )
    if hourly:
        result = queries.run(ctx.db_session, walk, ctx.periods, scope=[s.c.record_type.in_(ctx.types)])
    else:
        result = ctx.tickets(walk, s)
    merged = _merge([result], len(ctx.periods), empty=None)
    names = ("tickets", "suggested", "applied", "abstained", "unavailable", "accepted", "overridden")
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            row = {name: _n(f, name) for name in names}
            row["coverage"] = stats.rate(row["suggested"], row["tickets"])
            row["accept_rate"] = stats.rate(row["accepted"], row["suggested"])
            row["override_rate"] = stats.rate(row["overridden"], row["suggested"])
            out[key].append(row)
    return out


# ----------------------------------------------------------------------------------------------- others

OUTCOMES = ("deflected", "ticket_created", "handed_off", "abandoned")


def deflection(ctx: Context) -> dict[tuple, list[Figures]]:
    """Virtual-agent conversations started in the period, by outcome."""
    c = CONVERSATIONS
    sums = {"conversations": func.count(), **{o: count_where(c.c.outcome == o) for o in OUTCOMES}}
    sums["open"] = count_where(c.c.outcome.is_(None))
    group = c.c.intent if ctx.group_by else None
    result = queries.run(ctx.db_session, Walk(c, "started_at", sums, epoch=False), ctx.periods, group=group)
    merged = _merge([result], len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            row = {name: _n(f, name) for name in ("conversations", *OUTCOMES, "open")}
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
    published = Walk(a, "published_at", {"published": func.count()}, epoch=False)
    parts = [queries.run(ctx.db_session, votes, ctx.periods, group=group)]
    parts.append(queries.run(ctx.db_session, published, ctx.periods, group=group))
    if ctx.interval == Interval.all:
        views = queries.scalar_query(
            ctx.db_session, a, {"views": func.coalesce(func.sum(a.c.view_count), 0)}, [], group
        )
        parts.append({(0, key): figures for key, figures in views.items()})
    merged = _merge(parts, len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            helpful, not_helpful = _n(f, "helpful"), _n(f, "not_helpful")
            out[key].append(
                {
                    "helpful": helpful,
                    "not_helpful": not_helpful,
                    "helpful_rate": stats.rate(helpful, helpful + not_helpful),
                    "published": _n(f, "published"),
                    "views": _n(f, "views") if ctx.interval == Interval.all else None,
                }
            )
    return out


DESCRIPTIONS = {
    Metric.volume: "Tickets opened, resolved and closed per period.",
    Metric.backlog: "Open tickets at each period end, with their age in buckets, and what entered and left.",
    Metric.resolution_time: "Time to resolve and to first response (mean, median, p90; wall and business "
    "hours) with a histogram.",
    Metric.sla_compliance: "Tickets opened per period by SLA outcome (met, breached, in progress, ...) and "
    "the compliance rate, for the resolution and response clocks.",
    Metric.reassignment: "Resolved incidents and the share resolved without reassignment.",
    Metric.reopen: "Resolved incidents and the share that had been reopened.",
    Metric.first_contact_resolution: "Resolved incidents never reassigned nor reopened.",
    Metric.deflection: "Virtual-agent conversations by outcome and the deflection rate.",
    Metric.knowledge: "Helpful and unhelpful votes, publications, lifetime views (interval=all).",
    Metric.ai: "Triage suggestions per field, model and version: coverage, accept and override rates.",
}

METRICS: dict[Metric, Callable[[Context], dict[tuple, list[Figures]]]] = {
    Metric.volume: volume,
    Metric.backlog: backlog,
    Metric.resolution_time: resolution_time,
    Metric.sla_compliance: sla_compliance,
    Metric.reassignment: reassignment,
    Metric.reopen: reopen,
    Metric.first_contact_resolution: first_contact_resolution,
    Metric.deflection: deflection,
    Metric.knowledge: knowledge,
    Metric.ai: ai,
}


# ----------------------------------------------------------------------------------------------- labels


def group_labels(db_session: Session, group_by: str | None, values: Sequence[Any]) -> dict[Any, Any]:
    """Display values of group keys: group and user names for ids, priority labels."""
    present = [v for v in values if v is not None]
    if group_by == Dimension.group and present:
        rows = db_session.execute(select(Group.id, Group.name).where(Group.id.in_(present)))
        return dict(rows.all())
    if group_by == Dimension.assignee and present:
        rows = db_session.execute(select(User.id, User.username).where(User.id.in_(present)))
        return dict(rows.all())
    if group_by == Dimension.priority:
        return {v: PRIORITY_LABELS.get(int(v), str(v)) for v in present}
    return {v: v for v in present}
