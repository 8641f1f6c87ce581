"""The AI report: triage suggestions over time (`report_suggestions`, or their hourly or daily counts when
exact).

- ai: triage suggestions on tickets opened in the period, per field, model and version: `tickets` with a
  triage entry, `suggested` (shown or auto-applied), coverage = suggested / tickets, accept and override
  rates = agents' accepts and overrides / suggested.
"""

from __future__ import annotations

from sqlalchemy import Integer, cast, func

from itsm_ai.reports import queries, stats
from itsm_ai.reports.context import DIMENSION_COLUMNS, Context, Figures, figure, merge
from itsm_ai.reports.enums import DAY, HOUR, Dimension
from itsm_ai.reports.models import DAY_DIMENSIONS, ReportSuggestion, ReportSuggestionDay, ReportSuggestionHour
from itsm_ai.reports.queries import Walk, count_where, sum_where

SUGGESTIONS = ReportSuggestion.__table__
HOURS = ReportSuggestionHour.__table__
DAYS = ReportSuggestionDay.__table__
# The day counts' text value back as the facts' column type (group and priority are integers).
INTEGER_DIMENSIONS = ("assignment_group_id", "priority")


def _whole(ctx: Context, seconds: int) -> bool:
    """Periods of whole UTC hours or days (a range ending now may end mid-way: no ticket is opened after
    now)."""
    return all(p.start % seconds == 0 and (p.end % seconds == 0 or p.end >= ctx.now) for p in ctx.periods)


def _source(ctx: Context) -> tuple[str, str | None]:
    """Which rows answer exactly: the hourly counts (no ticket filter, grouped by type at most), the daily
    counts of one ticket field (filtered or grouped by that field alone, whole UTC days) or the facts."""
    column = DIMENSION_COLUMNS[Dimension(ctx.group_by)] if ctx.group_by else None
    if not ctx.filters and column in (None, "record_type") and _whole(ctx, HOUR):
        return "hours", column
    fields = set(ctx.filters) | ({column} if column else set())
    if len(fields) == 1 and fields <= set(DAY_DIMENSIONS) and _whole(ctx, DAY):
        return "days", fields.pop()
    return "facts", None


def _days_value(column: str):
    value = func.nullif(DAYS.c.value, "")
    return cast(value, Integer) if column in INTEGER_DIMENSIONS else value


def ai(ctx: Context) -> dict[tuple, list[Figures]]:
    """Triage suggestions per field, model and version: coverage, accept and override rates."""
    source, column = _source(ctx)
    s = {"hours": HOURS, "days": DAYS, "facts": SUGGESTIONS}[source]
    shown = s.c.status.in_(("suggested", "applied"))

    def count(*conditions):
        # The counted rows carry how many tickets they stand for; the facts are one ticket each.
        return count_where(*conditions) if source == "facts" else sum_where(s.c.tickets, *conditions)

    walk = Walk(
        s,
        {"hours": "hour", "days": "day", "facts": "opened_at"}[source],
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
    scope = [s.c.record_type.in_(ctx.types)]
    if source == "hours":
        group = s.c.record_type if column else None
        result = queries.run(ctx.db_session, walk, ctx.periods, scope=scope, group=group)
    elif source == "days":
        scope.append(s.c.dimension == column)
        if column in ctx.filters:
            scope.append(s.c.value.in_(["" if v is None else str(v) for v in ctx.filters[column]]))
        group = _days_value(column) if ctx.group_by else None
        result = queries.run(ctx.db_session, walk, ctx.periods, scope=scope, group=group)
    else:
        result = ctx.tickets(walk, s)
    merged = merge([result], len(ctx.periods), empty=None)
    names = ("tickets", "suggested", "applied", "abstained", "unavailable", "accepted", "overridden")
    out = {}
    for key, rows in merged.items():
        out[key] = []
        for f in rows:
            row = {name: figure(f, name) for name in names}
            row["coverage"] = stats.rate(row["suggested"], row["tickets"])
            row["accept_rate"] = stats.rate(row["accepted"], row["suggested"])
            row["override_rate"] = stats.rate(row["overridden"], row["suggested"])
            out[key].append(row)
    return out
