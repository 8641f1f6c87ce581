"""The AI report: triage suggestions over time (`report_suggestions`, or their hourly counts when exact).

- ai: triage suggestions on tickets opened in the period, per field, model and version: `tickets` with a
  triage entry, `suggested` (shown or auto-applied), coverage = suggested / tickets, accept and override
  rates = agents' accepts and overrides / suggested.
"""

from __future__ import annotations

from itsm_ai.reports import queries, stats
from itsm_ai.reports.context import Context, Figures, figure, merge
from itsm_ai.reports.models import ReportSuggestion, ReportSuggestionHour
from itsm_ai.reports.queries import Walk, count_where, sum_where

SUGGESTIONS = ReportSuggestion.__table__
HOURS = ReportSuggestionHour.__table__


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
        return sum_where(s.c.tickets, *conditions) if hourly else count_where(*conditions)

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
