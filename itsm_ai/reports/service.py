"""Reports: the query a user asked for, checked (422 naming the field), run, and shaped into tidy rows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.config import get_settings
from itsm_ai.errors import InvalidInputError
from itsm_ai.group.models import Group
from itsm_ai.reports import metrics, tabular
from itsm_ai.reports.context import Context
from itsm_ai.reports.enums import COUNTED_TYPES, TICKET_TYPES, Dimension, Interval, Metric
from itsm_ai.reports.periods import Period, epoch, periods
from itsm_ai.sla import service as sla_service
from itsm_ai.workflow.transitions import TRANSITIONS

# group_by values each report accepts (ticket reports group by ticket fields).
TICKET_DIMENSIONS = tuple(d.value for d in Dimension)
GROUP_BY = dict.fromkeys(Metric, TICKET_DIMENSIONS)
GROUP_BY[Metric.deflection] = ("intent",)
GROUP_BY[Metric.knowledge] = ("article", "category")
TICKET_FILTERS = ("type", "group", "category", "priority", "assignee", "state")
# Reports whose rows are not tickets take none of the ticket filters.
NOT_TICKETS = (Metric.deflection, Metric.knowledge)
INCIDENT_ONLY = (Metric.reassignment, Metric.reopen, Metric.first_contact_resolution)
MAX_ROWS = 200_000
DEFAULT_MONTHS = 12
TEXT_MAX = 120
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ReportQuery:
    """A checked report request: range [start, end) in `tz`, interval, grouping and ticket filters."""

    metric: Metric
    start: datetime
    end: datetime
    interval: Interval
    tz: str
    group_by: str | None = None
    types: tuple[str, ...] = ("incident",)
    filters: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def filter_names(self) -> dict[str, list[Any]]:
        """The filters as given (names, not ids), for the response."""
        return {"type": list(self.types), **{k: list(v) for k, v in self.filters.items()}}


def _split(values: Sequence[str] | str | None, *, commas: bool = True) -> list[str]:
    """Repeated (and, for names without commas, comma-separated) parameter values, stripped, empty dropped."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    parts = [part for value in values for part in (str(value).split(",") if commas else [str(value)])]
    return [part.strip() for part in parts if part.strip()]


def _zone(tz: str | None) -> str:
    name = tz or get_settings().reports_timezone
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(
            f"tz: {name!r} is not an IANA time zone such as Europe/London", field="tz"
        ) from exc
    return name


def _instant(text: str, zone: str, name: str, *, end: bool) -> datetime:
    """A date (whole days in the zone; an end date is included) or an ISO datetime (naive = in the zone)."""
    text = text.strip()
    try:
        if _DATE.match(text):
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{name}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time", field=name
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


def _default_start(end: datetime, zone: str) -> datetime:
    local = (end - timedelta(microseconds=1)).astimezone(ZoneInfo(zone))
    index = local.year * 12 + local.month - 1 - (DEFAULT_MONTHS - 1)
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=ZoneInfo(zone))


def _range(start: str | None, end: str | None, zone: str, now: datetime) -> tuple[datetime, datetime]:
    stop = _instant(end, zone, "to", end=True) if end else now
    first = _instant(start, zone, "from", end=False) if start else _default_start(stop, zone)
    if stop <= first:
        raise InvalidInputError("to: must be after from", field="to")
    if first.year < 1970 or stop.year > 9000:
        raise InvalidInputError("from: the range must lie between 1970 and 9000", field="from")
    return first, stop


def _choice(value: str | None, allowed: Sequence[str], name: str, default: str | None) -> str | None:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise InvalidInputError(f"{name}: {value!r} is not one of {', '.join(allowed)}", field=name)
    return value


def _ids(db_session: Session, column, key, names: list[str], name: str) -> tuple[int, ...]:
    found = dict(db_session.execute(select(key, column).where(key.in_(names))).all())
    unknown = [n for n in names if n not in found]
    if unknown:
        raise InvalidInputError(f"{name}: unknown {name} {unknown[0]!r}", field=name)
    return tuple(found[n] for n in names)


def _texts(values: list[str], name: str) -> tuple[str, ...]:
    for value in values:
        if len(value) > TEXT_MAX:
            raise InvalidInputError(f"{name}: at most {TEXT_MAX} characters", field=name)
    return tuple(values)


def parse_query(
    *,
    db_session: Session,
    metric: str,
    start: str | None = None,
    end: str | None = None,
    interval: str | None = None,
    tz: str | None = None,
    group_by: str | None = None,
    types: Sequence[str] | str | None = None,
    groups: Sequence[str] | str | None = None,
    categories: Sequence[str] | str | None = None,
    priorities: Sequence[str] | str | None = None,
    assignees: Sequence[str] | str | None = None,
    states: Sequence[str] | str | None = None,
    now: datetime | None = None,
) -> ReportQuery:
    """Check a report request; every problem is a 422 naming its parameter."""
    name = _choice(metric, [m.value for m in Metric], "metric", None)
    kind = Metric(name)
    zone = _zone(tz)
    first, stop = _range(start, end, zone, now or datetime.now(UTC))
    step = Interval(_choice(interval, [i.value for i in Interval], "interval", Interval.month.value))
    grouping = _choice(group_by, GROUP_BY[kind], "group_by", None)
    given = {
        "type": _split(types),
        # Group, category and user names may hold commas: several of them are given as repeated parameters.
        "group": _split(groups, commas=False),
        "category": _split(categories, commas=False),
        "priority": _split(priorities),
        "assignee": _split(assignees, commas=False),
        "state": _split(states),
    }
    if kind in NOT_TICKETS:
        for key in TICKET_FILTERS:
            if given[key]:
                raise InvalidInputError(f"{key}: the {kind.value} report is not about tickets", field=key)
    record_types: tuple[str, ...] = ("incident",)
    if given["type"]:
        wanted = list(TICKET_TYPES) if given["type"] == ["all"] else given["type"]
        for value in wanted:
            _choice(value, [*TICKET_TYPES, "all"], "type", None)
        record_types = tuple(dict.fromkeys(wanted))
    if kind in INCIDENT_ONLY and set(record_types) - set(COUNTED_TYPES):
        raise InvalidInputError(
            f"type: the {kind.value} report counts incidents only (only incidents keep the counts)",
            field="type",
        )
    filters: dict[str, tuple[Any, ...]] = {}
    if given["group"]:
        filters["assignment_group_id"] = _ids(
            db_session, Group.id, Group.name, _texts(given["group"], "group"), "group"
        )
    if given["category"]:
        filters["category"] = _texts(given["category"], "category")
    if given["priority"]:
        if not all(p.isdigit() and 1 <= int(p) <= 4 for p in given["priority"]):
            raise InvalidInputError("priority: whole numbers 1 (critical) to 4 (low)", field="priority")
        filters["priority"] = tuple(dict.fromkeys(int(p) for p in given["priority"]))
    if given["assignee"]:
        names = list(_texts(given["assignee"], "assignee"))
        filters["assigned_to_id"] = _ids(db_session, User.id, User.username, names, "assignee")
    if given["state"]:
        known = sorted({s for rt in TICKET_TYPES for s in TRANSITIONS[rt]})
        for value in given["state"]:
            _choice(value, known, "state", None)
        filters["state"] = tuple(given["state"])
    try:
        periods(first, stop, step, zone)
    except ValueError as exc:
        raise InvalidInputError(f"interval: {exc}", field="interval") from exc
    return ReportQuery(
        metric=kind,
        start=first,
        end=stop,
        interval=step,
        tz=zone,
        group_by=grouping,
        types=record_types,
        filters=filters,
    )


def _given_filters(query: ReportQuery, db_session: Session) -> dict[str, list[Any]]:
    names = {"assignment_group_id": "group", "assigned_to_id": "assignee"}
    out: dict[str, list[Any]] = {} if query.metric in NOT_TICKETS else {"type": list(query.types)}
    for column, values in query.filters.items():
        if column in names:
            shown = metrics.group_labels(db_session, names[column], list(values))
            values = [shown.get(v, v) for v in values]
        out[names.get(column, column)] = list(values)
    return out


def _row_head(period: Period, tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    return {
        "period": period.label,
        "start": period.start_at.astimezone(zone).isoformat(),
        "end": period.end_at.astimezone(zone).isoformat(),
    }


def run(*, db_session: Session, query: ReportQuery) -> dict[str, Any]:
    """The report: the query as understood, its columns and its tidy rows (see `metrics` for the figures)."""
    buckets = periods(query.start, query.end, query.interval, query.tz)
    ctx = Context(
        db_session=db_session,
        periods=buckets,
        interval=query.interval,
        types=query.types,
        filters=query.filters,
        group_by=query.group_by,
        now=epoch(sla_service.current_time()),
    )
    result = metrics.METRICS[query.metric](ctx)
    if len(result) * len(buckets) > MAX_ROWS:
        raise InvalidInputError(
            f"group_by: {len(result) * len(buckets)} rows is too many (at most {MAX_ROWS}); narrow the "
            "range, use a longer interval or group by another field",
            field="group_by",
        )
    labels = metrics.group_labels(db_session, query.group_by, [key[-1] for key in result])
    heads = [_row_head(p, query.tz) for p in buckets]
    items = []
    for index, head in enumerate(heads):
        for key, rows in result.items():
            item = dict(head)
            if query.metric == Metric.ai:
                field, model, version = key[:3]
                item.update({"field": field, "model": model or None, "model_version": version or None})
            item["group"] = labels.get(key[-1], key[-1])
            item.update(rows[index])
            items.append(item)
    first = [
        "period",
        "start",
        "end",
        *(["field", "model", "model_version"] if query.metric == Metric.ai else []),
        "group",
    ]
    return {
        "metric": query.metric.value,
        "start": query.start,
        "end": query.end,
        "interval": query.interval.value,
        "tz": query.tz,
        "group_by": query.group_by,
        "filters": _given_filters(query, db_session),
        "generated_at": datetime.now(UTC),
        "columns": tabular.columns_of(items, first),
        "items": items,
    }


def to_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV (formula-like text neutralised)."""
    return tabular.to_csv(report["items"], report["columns"])
