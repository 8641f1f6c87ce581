"""Report periods: calendar days, ISO weeks, months, quarters or years in a time zone, as UTC instants.

Periods are computed here once per report, so SQLite and PostgreSQL bucket the same way and the database
only counts rows between two instants (an index range). Boundaries are local midnights of the report's zone
turned into UTC, so a day across a daylight-saving change is 23 or 25 hours long, as it was. The first and
last period are cut to the requested range: a range starting on the 15th has a first month row from the 15th.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from itsm_ai.reports.enums import Interval

MAX_PERIODS = 5000


@dataclass(frozen=True)
class Period:
    """One row's time bucket: its label and [start, end) as UTC epoch seconds."""

    label: str
    start: int
    end: int

    @property
    def start_at(self) -> datetime:
        """The start as an aware UTC datetime."""
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def end_at(self) -> datetime:
        """The end (excluded) as an aware UTC datetime."""
        return datetime.fromtimestamp(self.end, UTC)


def epoch(value: datetime) -> int:
    """Whole UTC epoch seconds of an aware datetime (fractions are dropped, as stored facts do)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone")
    return int(value.timestamp() // 1)


def _bucket_start(day: date, interval: Interval) -> date:
    if interval == Interval.day:
        return day
    if interval == Interval.week:
        return day - timedelta(days=day.weekday())
    if interval == Interval.month:
        return day.replace(day=1)
    if interval == Interval.quarter:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _next_start(start: date, interval: Interval) -> date:
    if interval == Interval.day:
        return start + timedelta(days=1)
    if interval == Interval.week:
        return start + timedelta(days=7)
    months = {Interval.month: 1, Interval.quarter: 3, Interval.year: 12}[interval]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def label(start: date, interval: Interval) -> str:
    """The row label of the period starting on `start`: 2016-03-01, 2016-W09, 2016-03, 2016-Q1, 2016."""
    if interval == Interval.day:
        return start.isoformat()
    if interval == Interval.week:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == Interval.month:
        return f"{start.year}-{start.month:02d}"
    if interval == Interval.quarter:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def periods(start: datetime, end: datetime, interval: Interval | str, zone: str = "UTC") -> list[Period]:
    """The periods covering [start, end) in `zone`, the first and last cut to the range."""
    interval = Interval(interval)
    tz = ZoneInfo(zone)
    first, stop = epoch(start), epoch(end)
    if stop <= first:
        raise ValueError("the range must end after it starts")
    if interval == Interval.all:
        return [Period("all", first, stop)]
    out: list[Period] = []
    day = _bucket_start(start.astimezone(tz).date(), interval)
    while True:
        following = _next_start(day, interval)
        lo = epoch(_local_midnight(day, tz))
        hi = epoch(_local_midnight(following, tz))
        if lo >= stop:
            break
        if hi > first:
            out.append(Period(label(day, interval), max(lo, first), min(hi, stop)))
            if len(out) > MAX_PERIODS:
                raise ValueError(
                    f"over {MAX_PERIODS} {interval.value} periods: narrow the range or use a longer interval"
                )
        day = following
    return out


def period_of(instant: datetime, interval: Interval | str, zone: str = "UTC") -> Period:
    """The whole (uncut) period containing an instant."""
    interval = Interval(interval)
    if interval == Interval.all:
        raise ValueError("the `all` interval has no calendar periods")
    tz = ZoneInfo(zone)
    day = _bucket_start(instant.astimezone(tz).date(), interval)
    following = _next_start(day, interval)
    return Period(
        label(day, interval), epoch(_local_midnight(day, tz)), epoch(_local_midnight(following, tz))
    )
