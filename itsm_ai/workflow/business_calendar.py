"""Business calendars: working hours per weekday in an IANA zone, public holidays, business-time arithmetic.

All arithmetic is done on UTC instants, so a daylight-saving change is counted as the real time that passed
(a 08:00-18:00 day is always 10 hours; a 24x7 day in Europe/London is 23 or 25 hours twice a year).
Long spans are walked a whole local day at a time, each day costing O(its intervals), never minute by minute.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_CACHE_LIMIT = 20_000

# One working interval of a local day: (start, end) in minutes after local midnight, 0 <= start < end <= 1440.
Interval = tuple[int, int]
WeekHours = tuple[tuple[Interval, ...], ...]

FULL_WEEK: WeekHours = tuple(((0, MINUTES_PER_DAY),) for _ in WEEKDAYS)


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _minutes(text: str) -> int:
    match = _HHMM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a HH:MM time")
    hours, minutes = int(match.group(1)), int(match.group(2))
    value = hours * 60 + minutes
    if minutes >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time between 00:00 and 24:00")
    return value


def parse_interval(text: str) -> Interval:
    """Parse "08:00-18:00" ("24:00" ends a day) into minutes after midnight."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"{text!r} is not an interval like '08:00-18:00'")
    start, end = (_minutes(part) for part in text.split("-"))
    if start >= end:
        raise ValueError(f"interval {text!r} must end after it starts (use two intervals across midnight)")
    return start, end


def _format_interval(interval: Interval) -> str:
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in interval)


def _weekday_index(day: str | int) -> int:
    if isinstance(day, int) and 0 <= day < 7:
        return day
    if isinstance(day, str) and day.strip().lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(day.strip().lower()[:3])
    raise ValueError(f"{day!r} is not a weekday (mon..sun or 0..6)")


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (Monday first) in an IANA zone, minus public holidays and extra dates."""

    timezone: str = "UTC"
    hours: WeekHours = FULL_WEEK
    country: str | None = None
    subdiv: str | None = None
    extra_holidays: frozenset[date] = frozenset()
    name: str = ""
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA time zone name") from None
        if len(self.hours) != 7:
            raise ValueError(f"hours must have 7 weekdays (Monday first), got {len(self.hours)}")
        hours = []
        for index, day in enumerate(self.hours):
            intervals = sorted((int(s), int(e)) for s, e in day)
            for s, e in intervals:
                if not 0 <= s < e <= MINUTES_PER_DAY:
                    raise ValueError(
                        f"hours on {WEEKDAYS[index]}: interval {(s, e)} is not within 0..1440 minutes"
                    )
            for (_, e1), (s2, _) in zip(intervals, intervals[1:], strict=False):
                if s2 < e1:
                    raise ValueError(f"hours on {WEEKDAYS[index]}: intervals overlap")
            hours.append(tuple(intervals))
        if not any(hours):
            raise ValueError("a business calendar needs at least one working interval in the week")
        if self.country is not None:
            try:
                _public_holidays(self.country, self.subdiv, 2000)
            except NotImplementedError as exc:
                raise ValueError(f"holidays: {exc}") from None
        elif self.subdiv is not None:
            raise ValueError("subdiv needs a country")
        extra = frozenset(self.extra_holidays)
        if not all(isinstance(d, date) and not isinstance(d, datetime) for d in extra):
            raise ValueError("extra_holidays must be dates")
        object.__setattr__(self, "hours", tuple(hours))
        object.__setattr__(self, "extra_holidays", extra)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(
            self, "_always_open", self.hours == FULL_WEEK and self.country is None and not extra
        )
        object.__setattr__(self, "_days", {})

    # -- construction --------------------------------------------------------------------------------------

    @classmethod
    def twenty_four_seven(cls, *, timezone: str = "UTC", name: str = "24x7") -> "BusinessCalendar":
        """A calendar open every minute of every day."""
        return cls(timezone=timezone, name=name)

    @classmethod
    def office_hours(
        cls,
        *,
        timezone: str,
        start: str = "08:00",
        end: str = "18:00",
        days: Iterable[str | int] = WEEKDAYS[:5],
        country: str | None = None,
        subdiv: str | None = None,
        extra_holidays: Iterable[date] = (),
        name: str = "",
    ) -> "BusinessCalendar":
        """The same hours on each of `days` (Mon-Fri 08:00-18:00 by default)."""
        interval = parse_interval(f"{start}-{end}")
        open_days = {_weekday_index(d) for d in days}
        hours = tuple((interval,) if i in open_days else () for i in range(7))
        return cls(
            timezone=timezone,
            hours=hours,
            country=country,
            subdiv=subdiv,
            extra_holidays=frozenset(extra_holidays),
            name=name,
        )

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "BusinessCalendar":
        """Build from `{"timezone", "hours": {"mon": ["08:00-18:00"]}, "country", "subdiv", ...}`."""
        if not isinstance(obj, Mapping):
            raise ValueError("calendar must be an object")
        unknown = set(obj) - {"timezone", "hours", "country", "subdiv", "extra_holidays", "name"}
        if unknown:
            raise ValueError(f"calendar has unknown keys {sorted(unknown)}")
        week: list[tuple[Interval, ...]] = [() for _ in WEEKDAYS]
        raw_hours = obj.get("hours")
        if raw_hours is None:
            week = list(FULL_WEEK)
        elif not isinstance(raw_hours, Mapping):
            raise ValueError("calendar.hours must be an object {weekday: ['08:00-18:00', ...]}")
        else:
            for day, spec in raw_hours.items():
                texts: Sequence[str] = [spec] if isinstance(spec, str) else spec
                try:
                    week[_weekday_index(day)] = tuple(parse_interval(t) for t in texts)
                except ValueError as exc:
                    raise ValueError(f"calendar.hours.{day}: {exc}") from None
        try:
            extra = frozenset(date.fromisoformat(d) for d in obj.get("extra_holidays", ()))
        except (TypeError, ValueError):
            raise ValueError("calendar.extra_holidays must be ISO dates like '2024-12-24'") from None
        return cls(
            timezone=obj.get("timezone", "UTC"),
            hours=tuple(week),
            country=obj.get("country"),
            subdiv=obj.get("subdiv"),
            extra_holidays=extra,
            name=obj.get("name", ""),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by from_json."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": {
                WEEKDAYS[i]: [_format_interval(iv) for iv in day] for i, day in enumerate(self.hours) if day
            },
            "country": self.country,
            "subdiv": self.subdiv,
            "extra_holidays": sorted(d.isoformat() for d in self.extra_holidays),
        }

    # -- queries ---------------------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._zone

    def is_holiday(self, day: date) -> bool:
        """True when the local date is a public holiday or an extra closed date."""
        if day in self.extra_holidays:
            return True
        return self.country is not None and day in _public_holidays(self.country, self.subdiv, day.year)

    def _instant(self, day: date, minutes: int) -> datetime:
        naive = datetime.combine(day, time()) + timedelta(minutes=minutes)
        return naive.replace(tzinfo=self._zone).astimezone(UTC)

    def _intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of a local date as UTC instants (cached)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        spans: list[tuple[datetime, datetime]] = []
        if not self.is_holiday(day):
            for start, end in self.hours[day.weekday()]:
                lo, hi = self._instant(day, start), self._instant(day, end)
                # A boundary inside a daylight-saving gap can fold an interval onto nothing.
                if hi > lo:
                    spans.append((lo, hi))
        if len(self._days) >= _CACHE_LIMIT:
            self._days.clear()
        result = tuple(spans)
        self._days[day] = result
        return result

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()

    def is_open(self, dt: datetime) -> bool:
        """True when `dt` is inside working hours (intervals are half-open: closing time is closed)."""
        _require_aware(dt, "dt")
        instant = dt.astimezone(UTC)
        return any(lo <= instant < hi for lo, hi in self._intervals(self._local_date(instant)))

    def next_open(self, dt: datetime) -> datetime:
        """The earliest instant at or after `dt` that is inside working hours."""
        _require_aware(dt, "dt")
        instant = dt.astimezone(UTC)
        day = self._local_date(instant)
        while True:
            for lo, hi in self._intervals(day):
                if hi > instant:
                    return max(lo, instant).astimezone(dt.tzinfo)
            day += _ONE_DAY

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which `duration` of working time has passed since `start`."""
        _require_aware(start, "start")
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        cursor = start.astimezone(UTC)
        if duration == _ZERO:
            return start
        if self._always_open:
            return (cursor + duration).astimezone(start.tzinfo)
        remaining = duration
        day = self._local_date(cursor)
        while True:
            for lo, hi in self._intervals(day):
                if hi <= cursor:
                    continue
                lo = max(lo, cursor)
                available = hi - lo
                if available >= remaining:
                    return (lo + remaining).astimezone(start.tzinfo)
                remaining -= available
            day += _ONE_DAY

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b` (negative when `b` is before `a`)."""
        _require_aware(a, "a")
        _require_aware(b, "b")
        lo_at, hi_at = a.astimezone(UTC), b.astimezone(UTC)
        if hi_at < lo_at:
            return -self.business_time_between(b, a)
        if self._always_open:
            return hi_at - lo_at
        total = _ZERO
        day, last = self._local_date(lo_at), self._local_date(hi_at)
        while day <= last:
            for lo, hi in self._intervals(day):
                lo, hi = max(lo, lo_at), min(hi, hi_at)
                if hi > lo:
                    total += hi - lo
            day += _ONE_DAY
        return total


CALENDAR_24X7 = BusinessCalendar.twenty_four_seven()
