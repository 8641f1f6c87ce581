"""Report endpoints: agents, admins and data scientists read every report; requesters get 403."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from itsm_ai.auth.dependencies import ReaderUser
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError
from itsm_ai.reports import service
from itsm_ai.reports.enums import Interval, Metric, ReportFormat
from itsm_ai.reports.metrics import DESCRIPTIONS
from itsm_ai.reports.models import ReportRead

router = APIRouter(prefix="/reports", tags=["reports"])

Text = Annotated[str | None, Query(max_length=60)]
Values = Annotated[list[str] | None, Query(max_length=2000)]


@router.get("", summary="The reports, what they count and how they can be grouped")
def list_reports(user: ReaderUser) -> list[dict[str, Any]]:
    """Every report name with its description and group_by choices."""
    return [
        {"metric": m.value, "description": DESCRIPTIONS[m], "group_by": list(service.GROUP_BY[m])}
        for m in Metric
    ]


@router.get(
    "/{metric}",
    response_model=ReportRead,
    summary="A report: figures per period (and group) as tidy rows, JSON or CSV",
    responses={200: {"content": {"text/csv": {}}}},
)
def read_report(
    metric: str,
    db_session: DbSession,
    user: ReaderUser,
    start: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="Date (YYYY-MM-DD) or ISO date-time; default 12 months ago.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        Query(
            alias="to", max_length=40, description="Date (included) or ISO date-time (excluded); default now."
        ),
    ] = None,
    interval: Annotated[str | None, Query(max_length=20, description=" | ".join(Interval))] = None,
    group_by: Annotated[str | None, Query(max_length=20, description="A field; see GET /reports.")] = None,
    tz: Annotated[
        str | None, Query(max_length=60, description="IANA zone; default ITSM_REPORTS_TIMEZONE.")
    ] = None,
    type: Values = None,
    group: Values = None,
    category: Values = None,
    priority: Values = None,
    assignee: Values = None,
    state: Values = None,
    format: Text = None,
):
    """Figures per period in [from, to) and per `group_by` value; filters take repeated or comma lists."""
    if format not in (None, "", *ReportFormat):
        raise InvalidInputError(f"format: {format!r} is not one of json, csv", field="format")
    query = service.parse_query(
        db_session=db_session,
        metric=metric,
        start=start,
        end=end,
        interval=interval,
        tz=tz,
        group_by=group_by,
        types=type,
        groups=group,
        categories=category,
        priorities=priority,
        assignees=assignee,
        states=state,
    )
    report = service.run(db_session=db_session, query=query)
    if format == ReportFormat.csv:
        stamp = f"{query.start.date().isoformat()}_{query.end.date().isoformat()}"
        return Response(
            content=service.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="report-{query.metric.value}-{stamp}.csv"'
            },
        )
    return report
