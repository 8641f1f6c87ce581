"""The console's reports dashboard (/console/reports): charts of volume, backlog, SLA compliance per group,
resolution times and AI acceptance, each with its data table and CSV (agents, admins, data scientists)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError
from itsm_ai.reports import dashboard
from itsm_ai.reports.enums import Interval
from itsm_ai.ui import form_choices
from itsm_ai.ui.page_auth import ConsoleUser, PageRoute
from itsm_ai.ui.rendering import render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

Param = Annotated[str | None, Query(max_length=60)]


@router.get("/console/reports")
def console_reports(
    request: Request,
    db_session: DbSession,
    user: ConsoleUser,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    interval: Param = None,
    type: Param = None,
    group: Annotated[str | None, Query(max_length=120)] = None,
):
    """The dashboard for a range (default: the 12 months up to the latest ticket), type and group."""
    board, error = None, None
    try:
        board = dashboard.build(
            db_session=db_session,
            start=start,
            end=end,
            interval=interval,
            record_type=type,
            group=group or None,
        )
    except InvalidInputError as exc:
        error = exc
    return render(
        request,
        "console/reports.html",
        user,
        422 if error else 200,
        board=board,
        error=error,
        form={
            "from": start or "",
            "to": end or "",
            "interval": interval or "month",
            "type": type or "incident",
            "group": group or "",
        },
        intervals=[i.value for i in Interval if i != Interval.all],
        groups=form_choices.group_names(db_session=db_session),
    )
