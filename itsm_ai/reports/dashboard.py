"""The console's reports dashboard: the reports it runs, headline figures and the charts drawn from them.

Each panel is a chart (server-side SVG, see `charts`) with the same numbers as a table and a link to the
report's CSV, so nothing is only visible as a picture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.reports import charts, service
from itsm_ai.reports.charts import Series
from itsm_ai.reports.enums import AGE_COLUMNS, RESOLVE_COLUMNS, Interval
from itsm_ai.reports.models import ReportTicket

TOP_GROUPS = 12
AGE_LABELS = ("up to 1 day", "1-3 days", "3-7 days", "7-30 days", "over 30 days")
RESOLVE_LABELS = ("up to 1 h", "1-4 h", "4 h-1 day", "1-3 days", "3-7 days", "over 7 days")


@dataclass
class Panel:
    """One chart with its data table and the CSV of the report it comes from."""

    key: str
    title: str
    svg: str
    headers: list[str]
    rows: list[list[Any]]
    csv: str
    note: str = ""


@dataclass
class Dashboard:
    """What the page shows: the query as understood, headline figures and the panels."""

    start: date
    end: date
    interval: str
    record_type: str
    group: str | None
    tz: str
    kpis: list[tuple[str, str]] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)


def default_range(*, db_session: Session, tz: str, now: datetime | None = None) -> tuple[date, date]:
    """The 12 calendar months up to the latest ticket opened (today without tickets), as inclusive dates.

    Ending at the latest ticket rather than today shows imported history (a 2016 export) straight away.
    """
    latest = db_session.scalar(select(func.max(ReportTicket.opened_at)))
    zone = ZoneInfo(tz)
    end = datetime.fromtimestamp(latest, UTC) if latest is not None else (now or datetime.now(UTC))
    last = end.astimezone(zone).date()
    index = last.year * 12 + last.month - 1 - 11
    return date(index // 12, index % 12 + 1, 1), last


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _hours(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} days"


def _csv(metric: str, params: dict[str, Any]) -> str:
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return f"/api/v1/reports/{metric}?{urlencode({**query, 'format': 'csv'})}"


def build(
    *,
    db_session: Session,
    start: str | None,
    end: str | None,
    interval: str | None,
    record_type: str | None,
    group: str | None,
    tz: str | None = None,
) -> Dashboard:
    """Run the dashboard's reports (bad input: 422 naming the field, as the API does)."""
    zone = tz or get_settings().reports_timezone
    if not start and not end:
        first, last = default_range(db_session=db_session, tz=zone)
        start, end = first.isoformat(), last.isoformat()
    record_type = record_type or "incident"
    interval = interval or Interval.month.value
    common = {"from": start, "to": end, "tz": zone}
    ticket = {**common, "type": record_type, "group": group}

    def report(metric: str, **params) -> dict[str, Any]:
        values = {**common, **params}
        query = service.parse_query(
            db_session=db_session,
            metric=metric,
            start=values.get("from"),
            end=values.get("to"),
            interval=values.get("interval"),
            tz=values.get("tz"),
            group_by=values.get("group_by"),
            types=values.get("type"),
            groups=values.get("group"),
        )
        return service.run(db_session=db_session, query=query)

    volume = report("volume", **ticket, interval=interval)
    query_start = volume["start"].astimezone(ZoneInfo(zone)).date()
    query_end = (volume["end"] - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date()
    board = Dashboard(query_start, query_end, interval, record_type, group, zone)
    backlog = report("backlog", **ticket, interval=interval)
    sla = report("sla-compliance", **ticket, interval="all", group_by="group")
    times = report("resolution-time", **ticket, interval="all")["items"][0]
    totals = report("volume", **ticket, interval="all")["items"][0]
    sla_all = report("sla-compliance", **ticket, interval="all")["items"][0]
    ai = report("ai", **ticket, interval=interval)
    deflection = report("deflection", **common, interval="all")["items"][0]
    first_contact = None
    if record_type == "incident":
        first_contact = report("first-contact-resolution", **ticket, interval="all")["items"][0]

    last_backlog = backlog["items"][-1]["backlog"] if backlog["items"] else 0
    board.kpis = [
        ("Opened", f"{totals['opened']:,}"),
        ("Resolved", f"{totals['resolved']:,}"),
        ("Backlog at the end", f"{last_backlog:,}"),
        ("Median time to resolve", _hours(times["resolve_hours_median"])),
        ("SLA compliance", _pct(sla_all["compliance"])),
        ("Virtual-agent deflection", _pct(deflection["deflection_rate"])),
    ]
    if first_contact is not None:
        board.kpis.append(("First-contact resolution", _pct(first_contact["first_contact_rate"])))

    periods = [r["period"] for r in volume["items"]]
    board.panels.append(
        Panel(
            "volume",
            "Volume and backlog",
            charts.line_chart(
                "Tickets opened, resolved and open (backlog) per period",
                periods,
                [
                    Series("opened", [r["opened"] for r in volume["items"]]),
                    Series("resolved", [r["resolved"] for r in volume["items"]]),
                    Series("backlog", [r["backlog"] for r in backlog["items"]]),
                ],
                y_label="tickets",
            ),
            ["Period", "Opened", "Resolved", "Closed", "Backlog", *AGE_LABELS],
            [
                [
                    v["period"],
                    v["opened"],
                    v["resolved"],
                    v["closed"],
                    b["backlog"],
                    *(b[c] for c in AGE_COLUMNS),
                ]
                for v, b in zip(volume["items"], backlog["items"], strict=True)
            ],
            _csv("backlog", {**ticket, "interval": interval}),
            "Backlog: tickets open at the end of each period, with their age.",
        )
    )
    groups = sorted(sla["items"], key=lambda r: -(r["met"] + r["breached"]))
    shown = [r for r in groups if r["met"] + r["breached"]][:TOP_GROUPS]
    board.panels.append(
        Panel(
            "sla",
            "SLA compliance per group",
            charts.bar_chart(
                f"Share of tickets that met their SLA, for the {len(shown)} groups with most finished SLAs",
                [r["group"] or "(no group)" for r in shown],
                [Series("compliance", [r["compliance"] for r in shown])],
                percent=True,
                y_label="met / (met + breached)",
            ),
            ["Group", "Tickets", "Met", "Breached", "In progress", "Paused", "No SLA", "Compliance"],
            [
                [
                    r["group"] or "(no group)",
                    r["tickets"],
                    r["met"],
                    r["breached"],
                    r["in_progress"],
                    r["paused"],
                    r["no_sla"],
                    _pct(r["compliance"]),
                ]
                for r in groups
            ],
            _csv("sla-compliance", {**ticket, "interval": "all", "group_by": "group"}),
            "Met and breached are the SLA engine's stages; imported tickets count with their source's own.",
        )
    )
    board.panels.append(
        Panel(
            "resolution",
            "Distribution of resolution times",
            charts.bar_chart(
                "Tickets resolved in the range by time to resolve",
                list(RESOLVE_LABELS),
                [Series("tickets", [times[c] for c in RESOLVE_COLUMNS])],
                y_label="tickets",
            ),
            ["Time to resolve", "Tickets"],
            [[label, times[c]] for label, c in zip(RESOLVE_LABELS, RESOLVE_COLUMNS, strict=True)],
            _csv("resolution-time", {**ticket, "interval": interval}),
            f"Median {_hours(times['resolve_hours_median'])}, 90th percentile "
            f"{_hours(times['resolve_hours_p90'])}, mean {_hours(times['resolve_hours_mean'])}; "
            f"first response median {_hours(times['response_hours_median'])}.",
        )
    )
    fields = sorted({r["field"] for r in ai["items"]})
    rates = []
    for name in fields:
        per_period = []
        for period in periods:
            rows = [r for r in ai["items"] if r["field"] == name and r["period"] == period]
            suggested = sum(r["suggested"] for r in rows)
            per_period.append(sum(r["accepted"] for r in rows) / suggested if suggested else None)
        if any(v is not None for v in per_period):  # a field whose model never suggested has no rate
            rates.append(Series(name, per_period))
    board.panels.append(
        Panel(
            "ai",
            "AI suggestions accepted",
            charts.line_chart(
                "Share of triage suggestions agents accepted, per field",
                periods,
                rates,
                percent=True,
                y_label="accepted",
            ),
            [
                "Period",
                "Field",
                "Model version",
                "Tickets",
                "Suggested",
                "Coverage",
                "Accepted",
                "Overridden",
            ],
            [
                [
                    r["period"],
                    r["field"],
                    r["model_version"] or "—",
                    r["tickets"],
                    r["suggested"],
                    _pct(r["coverage"]),
                    _pct(r["accept_rate"]),
                    _pct(r["override_rate"]),
                ]
                for r in ai["items"]
                if r["tickets"]
            ],
            _csv("ai", {**ticket, "interval": interval}),
            "Accepted: the agent took the suggested value; overridden: the agent set another one.",
        )
    )
    return board
