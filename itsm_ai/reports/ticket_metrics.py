"""The ticket reports, walks over the report facts (`report_tickets`), and their figures.

Volume, and the tickets opened per period of the backlog, grouped or filtered by one of group, category,
priority or state over whole UTC days, read the daily ticket counts of that field (`report_ticket_days`)
instead: the same figures from about 60 rows a day rather than every ticket's three times.

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
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Integer, and_, cast, func, literal, not_, or_, select, text

from itsm_ai.reports import queries, stats
from itsm_ai.reports.context import (
    DIMENSION_COLUMNS,
    TICKETS,
    Context,
    Figures,
    bucket_sums,
    figure,
    hours_figures,
    merge,
    values_summary,
)
from itsm_ai.reports.enums import (
    AGE_BOUNDS,
    AGE_COLUMNS,
    DAY,
    RESOLVE_BOUNDS,
    RESOLVE_COLUMNS,
    RESOLVED_STATES,
    SLA_RUNNING,
    Dimension,
)
from itsm_ai.reports.models import DAY_DIMENSIONS, DAY_EVENTS, LINGERED, ReportTicketDay
from itsm_ai.reports.queries import Tally, Values, Walk, count_where, null_or_after, sum_where

TICKET_DAYS = ReportTicketDay.__table__
# The daily counts' text value back as the facts' column type (group and priority are integers).
INTEGER_DIMENSIONS = ("assignment_group_id", "priority")


def volume(ctx: Context) -> dict[tuple, list[Figures]]:
    """Opened, resolved and closed per period."""
    t = TICKETS
    column = _day_dimension(ctx)
    if column is not None:
        parts = [_volume_days(ctx, column)]
    else:
        parts = [
            ctx.tickets(Walk(t, "opened_at", {"opened": count_where()})),
            ctx.tickets(Walk(t, "resolved_at", {"resolved": count_where()})),
            ctx.tickets(Walk(t, "closed_at", {"closed": count_where()})),
        ]
    merged = merge(parts, len(ctx.periods))
    return {
        key: [{name: figure(f, name) for name in ("opened", "resolved", "closed")} for f in rows]
        for key, rows in merged.items()
    }


def _day_dimension(ctx: Context) -> str | None:
    """The ticket field whose daily counts answer the volume report exactly, if any: the report is grouped
    or filtered by that one field (of `DAY_DIMENSIONS`), its periods are whole UTC days, and a last period
    ending mid-day (at now) has no ticket event after its end that its day's counts would hold."""
    column = DIMENSION_COLUMNS[Dimension(ctx.group_by)] if ctx.group_by else None
    fields = set(ctx.filters) | ({column} if column else set())
    if len(fields) != 1 or not fields <= set(DAY_DIMENSIONS):
        return None
    t = TICKETS
    for period in ctx.periods:
        if period.start % DAY:
            return None
        if period.end % DAY:
            day_end = period.end - period.end % DAY + DAY
            for event in DAY_EVENTS:
                at = t.c[f"{event}_at"]
                later = select(literal(1)).where(
                    t.c.record_type.in_(ctx.types), at >= period.end, at < day_end
                )
                if ctx.db_session.execute(later.limit(1)).first() is not None:
                    return None
    return fields.pop()


def _volume_days(ctx: Context, column: str, events: Sequence[str] = DAY_EVENTS) -> dict:
    """The walk over the daily ticket counts of one field (see `_day_dimension`): the count of each of the
    events per period and group, for the groups with any of them (as the facts' walks of them give)."""
    d = TICKET_DAYS
    where = [or_(*(d.c[event] > 0 for event in events))] if len(events) < len(DAY_EVENTS) else []
    walk = Walk(d, "day", {event: sum_where(d.c[event]) for event in events}, where=where)
    scope = [d.c.record_type.in_(ctx.types), d.c.dimension == column]
    if column in ctx.filters:
        scope.append(d.c.value.in_(["" if v is None else str(v) for v in ctx.filters[column]]))
    group = None
    if ctx.group_by:
        value = func.nullif(d.c.value, "")
        group = cast(value, Integer) if column in INTEGER_DIMENSIONS else value
    return queries.run(ctx.db_session, walk, ctx.periods, scope=scope, group=group)


def backlog(ctx: Context) -> dict[tuple, list[Figures]]:
    """Open tickets at each period end, by age, from what entered, aged and left in each period."""
    t = TICKETS
    opened, ended = t.c.opened_at, t.c.ended_at
    column = _day_dimension(ctx)
    walks = [
        _volume_days(ctx, column, ["opened"])
        if column is not None
        else ctx.tickets(Walk(t, "opened_at", {"opened": count_where()})),
        ctx.tickets(
            Walk(
                t,
                "ended_at",
                {"ended": count_where(), **bucket_sums(ended - opened, AGE_BOUNDS, _ended(AGE_COLUMNS))},
            )
        ),
    ]
    # A ticket moves up one age bucket when it reaches each bound while still open: those crossings are the
    # tickets whose opened_at + bound falls in the period (an index range shifted by the bound). One walk per
    # bound: folding them into one walk over a widened range measured slower (more rows, more conditions).
    # Only tickets open for over a day cross any bound: those walks read the partial index of them (the
    # condition is repeated as its text so that the planners match it; the first bound is that day).
    lingered = text(f"({LINGERED})")
    for k, bound in enumerate(AGE_BOUNDS):
        sums = {f"crossed_{k}": count_where()}
        where = [lingered, null_or_after(ended, opened + bound)]
        walks.append(ctx.tickets(Walk(t, "opened_at", sums, where=where, shift=bound)))
    initial = _open_at(ctx, ctx.periods[0].start)
    merged = merge([*walks, {(0, key): figures for key, figures in initial.items()}], len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        start = [figure(rows[0], f"initial_{c}") for c in AGE_COLUMNS]
        moves = []
        for f in rows:
            delta = [0.0] * len(AGE_COLUMNS)
            delta[0] += figure(f, "opened")
            for k in range(len(AGE_BOUNDS)):
                crossed = figure(f, f"crossed_{k}")
                delta[k] -= crossed
                delta[k + 1] += crossed
            for k, column in enumerate(_ended(AGE_COLUMNS)):
                delta[k] -= figure(f, column)
            moves.append(delta)
        counts = stats.bucket_counts(moves, start)
        out[key] = [
            {
                "opened": figure(f, "opened"),
                "ended": figure(f, "ended"),
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
    sums = {f"initial_{name}": expr for name, expr in bucket_sums(age, AGE_BOUNDS, AGE_COLUMNS).items()}
    where = [*ctx.scope(t), t.c.opened_at < instant, or_(t.c.ended_at.is_(None), t.c.ended_at >= instant)]
    return queries.scalar_query(ctx.db_session, t, sums, where, ctx.group(t))


def resolution_time(ctx: Context) -> dict[tuple, list[Figures]]:
    """Time to resolve (by resolution period) and to first response (by response period).

    The two walks are independent and about the same size (each a million-row index range at 1M incidents):
    they run at once on two connections (`overlap`; 2026-12-06, 1M incidents by month and group, in process,
    load 3: SQLite ~650 -> ~400 ms, PostgreSQL ~780 -> ~540 ms together with the lighter lists).
    """
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
    # Independent walks of about the same size: overlapped (see `overlap`).
    merged = merge(ctx.tickets_together(resolved, responded), len(ctx.periods))
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            resolve = values_summary(f, "resolve", RESOLVE_BOUNDS)
            resolve_business, response = values_summary(f, "resolve_business"), values_summary(f, "response")
            response_business = values_summary(f, "response_business")
            out[key].append(
                {
                    "resolved": resolve["n"],
                    **hours_figures("resolve", resolve),
                    "resolved_business": resolve_business["n"],
                    **hours_figures("resolve_business", resolve_business),
                    **dict(zip(RESOLVE_COLUMNS, resolve["buckets"], strict=True)),
                    "responded": response["n"],
                    **hours_figures("response", response),
                    "responded_business": response_business["n"],
                    **hours_figures("response_business", response_business),
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
        "tickets": count_where(),
        **_clock_sums("", t.c.sla_stage, t.c.sla_deadline, ctx.now, t.c.source_made_sla),
        **_clock_sums("response_", t.c.response_stage, t.c.response_deadline, ctx.now),
    }
    merged = merge([ctx.tickets(Walk(t, "opened_at", sums))], len(ctx.periods))
    order = ["tickets", "met", "breached", "in_progress", "paused", "cancelled", "no_sla", "from_source"]
    response = ["met", "breached", "in_progress", "paused", "cancelled", "no_sla"]
    out = {}
    for key, rows in merged.items():
        out[key] = [
            {
                **{name: figure(f, name) for name in order},
                "compliance": stats.rate(figure(f, "met"), figure(f, "met") + figure(f, "breached")),
                **{f"response_{name}": figure(f, f"response_{name}") for name in response},
                "response_compliance": stats.rate(
                    figure(f, "response_met"), figure(f, "response_met") + figure(f, "response_breached")
                ),
            }
            for f in rows
        ]
    return out


def _resolved_walk(ctx: Context, sums: dict[str, Tally]) -> dict[tuple, list[Figures]]:
    t = TICKETS
    walk = Walk(
        t, "resolved_at", {"resolved": count_where(), **sums}, where=[t.c.reassignment_count.isnot(None)]
    )
    return merge([ctx.tickets(walk)], len(ctx.periods))


def reassignment(ctx: Context) -> dict[tuple, list[Figures]]:
    """Resolved incidents and how many were never reassigned."""
    t = TICKETS
    merged = _resolved_walk(
        ctx,
        {
            "without": count_where(t.c.reassignment_count == 0),
            "reassignments": sum_where(t.c.reassignment_count),
        },
    )
    return {
        key: [
            {
                "resolved": figure(f, "resolved"),
                "resolved_without_reassignment": figure(f, "without"),
                "share_without_reassignment": stats.rate(figure(f, "without"), figure(f, "resolved")),
                "reassignments": figure(f, "reassignments"),
                "mean_reassignments": stats.rate(figure(f, "reassignments"), figure(f, "resolved")),
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
            "reopens": sum_where(t.c.reopen_count),
        },
    )
    return {
        key: [
            {
                "resolved": figure(f, "resolved"),
                "reopened": figure(f, "reopened"),
                "reopen_rate": stats.rate(figure(f, "reopened"), figure(f, "resolved")),
                "reopens": figure(f, "reopens"),
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
                "resolved": figure(f, "resolved"),
                "first_contact": figure(f, "first"),
                "first_contact_rate": stats.rate(figure(f, "first"), figure(f, "resolved")),
            }
            for f in rows
        ]
        for key, rows in merged.items()
    }
