"""`itsm-ai report METRIC` (a report as a table, CSV or JSON) and `itsm-ai db rebuild-report-facts`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from itsm_ai.reports.enums import Metric

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

FORMATS = ("table", "csv", "json")


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report_command(
    metric: Annotated[str, typer.Argument(help=" | ".join(m.value for m in Metric), show_default=False)],
    start: Annotated[
        str | None, typer.Option("--from", help="Date or ISO date-time (default 12 months ago).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Date (included) or ISO date-time (default now).")
    ] = None,
    interval: Annotated[str | None, typer.Option(help="day, week, month, quarter, year or all.")] = None,
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="A field (see GET /api/v1/reports).")
    ] = None,
    tz: Annotated[str | None, typer.Option(help="IANA time zone (default ITSM_REPORTS_TIMEZONE).")] = None,
    record_type: Annotated[list[str] | None, typer.Option("--type", help="Ticket type(s) or all.")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Only these assignment groups.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Only these categories.")] = None,
    priority: Annotated[list[str] | None, typer.Option(help="Only these priorities (1-4).")] = None,
    assignee: Annotated[list[str] | None, typer.Option(help="Only these assignees (usernames).")] = None,
    state: Annotated[list[str] | None, typer.Option(help="Only tickets now in these states.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Print a report: figures per period (and group) for the range, as the API computes them."""
    from itsm_ai.database import get_session
    from itsm_ai.errors import AppError
    from itsm_ai.migrate import upgrade
    from itsm_ai.reports import service

    if fmt not in FORMATS:
        _fail(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    upgrade()
    try:
        with get_session() as session:
            query = service.parse_query(
                db_session=session,
                metric=metric,
                start=start,
                end=end,
                interval=interval,
                tz=tz,
                group_by=group_by,
                types=record_type,
                groups=group,
                categories=category,
                priorities=priority,
                assignees=assignee,
                states=state,
            )
            report = service.run(db_session=session, query=query)
    except AppError as exc:
        _fail(exc.message)
    if fmt == "csv":
        out.file.write(service.to_csv(report))
        return
    if fmt == "json":
        out.print_json(
            json.dumps({**report, "from": report.pop("start"), "to": report.pop("end")}, default=str)
        )
        return
    table = Table(title=f"{report['metric']} ({report['interval']}, {report['tz']})")
    columns = [c for c in report["columns"] if c not in ("start", "end")]
    for column in columns:
        table.add_column(column, justify="left" if column in ("period", "group", "field") else "right")
    for item in report["items"]:
        table.add_row(*(_cell(item.get(c)) for c in columns))
    out.print(table)


def rebuild_facts_command(
    record_type: Annotated[
        list[str] | None, typer.Option("--type", help="Ticket types (default all).")
    ] = None,
) -> None:
    """Recompute the report facts of every ticket (after an upgrade, or writes made outside the app)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from itsm_ai.database import get_session
    from itsm_ai.migrate import upgrade
    from itsm_ai.reports.enums import TICKET_TYPES
    from itsm_ai.reports.flows import rebuild

    for value in record_type or []:
        if value not in TICKET_TYPES:
            _fail(f"--type: {value!r} is not one of {', '.join(TICKET_TYPES)}")
    upgrade()
    with Progress(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("facts", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with get_session() as session:
            count = rebuild(db_session=session, record_types=record_type, progress=update)
    console.print(f"report facts rebuilt for {count} tickets")
