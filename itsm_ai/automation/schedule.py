"""Time-based rule schedules (pure): validation, the window a firing belongs to, which anchors are due.

Two shapes, stored as JSON on a rule whose trigger is `scheduled`:

    {"every_minutes": N}                       every N minutes, for each ticket matching the conditions
    {"after_minutes": N, "since": "opened_at"} once, N minutes after the ticket's `since` time

`after` is edge-triggered: a ticket is looked at when `since + N` passes (the scheduler keeps a watermark),
so `{"after_minutes": 240, "since": "updated_at"}` means "4 hours without change" and fires again only after
the ticket changes and then sits idle for another 4 hours. A firing is recorded per (rule, ticket, window):
the window of an `every` schedule is the N-minute slot of the clock, of an `after` schedule the anchor time.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SINCE_FIELDS = ("opened_at", "updated_at", "created_at", "resolved_at")
MAX_MINUTES = 366 * 24 * 60


class ScheduleError(ValueError):
    """A malformed schedule; `path` names the bad part, e.g. `schedule.every_minutes`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Schedule:
    """Either `every_minutes` or `after_minutes` (with the `since` field it counts from)."""

    every_minutes: int | None = None
    after_minutes: int | None = None
    since: str = "opened_at"

    @property
    def minutes(self) -> int:
        """The schedule's period or delay in minutes."""
        return self.every_minutes or self.after_minutes or 0

    def to_json(self) -> dict[str, Any]:
        """The JSON form read by parse_schedule."""
        if self.every_minutes is not None:
            return {"every_minutes": self.every_minutes}
        return {"after_minutes": self.after_minutes, "since": self.since}


def _minutes(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        raise ScheduleError(f"{path}.{key}", f"must be a whole number of minutes from 1 to {MAX_MINUTES}")
    return value


def parse_schedule(obj: Any, *, path: str = "schedule") -> Schedule:
    """Validate stored JSON and build the schedule, raising ScheduleError naming the bad part."""
    if not isinstance(obj, Mapping):
        raise ScheduleError(path, "must be an object with every_minutes or after_minutes")
    unknown = sorted(set(obj) - {"every_minutes", "after_minutes", "since"})
    if unknown:
        raise ScheduleError(f"{path}.{unknown[0]}", "is not a schedule parameter")
    if ("every_minutes" in obj) == ("after_minutes" in obj):
        raise ScheduleError(path, "needs exactly one of every_minutes or after_minutes")
    if "every_minutes" in obj:
        if "since" in obj:
            raise ScheduleError(f"{path}.since", "only applies to after_minutes")
        return Schedule(every_minutes=_minutes(obj, "every_minutes", path))
    since = obj.get("since", "opened_at")
    if since not in SINCE_FIELDS:
        raise ScheduleError(f"{path}.since", f"must be one of {', '.join(SINCE_FIELDS)}, got {since!r}")
    return Schedule(after_minutes=_minutes(obj, "after_minutes", path), since=since)


def every_window(schedule: Schedule, now: datetime) -> int:
    """The index of the N-minute slot of the clock `now` falls in (the same for every worker)."""
    return int(now.timestamp() // (schedule.minutes * 60))


def window_key(schedule: Schedule, now: datetime, anchor: datetime | None = None) -> str:
    """The key a firing is recorded under: the clock slot (`every`) or the anchor time (`after`)."""
    if schedule.every_minutes is not None:
        return f"every:{every_window(schedule, now)}"
    if anchor is None:
        raise ValueError("an after schedule needs the ticket's anchor time")
    return f"after:{anchor.astimezone(UTC).isoformat(timespec='microseconds')}"


def due_anchors(schedule: Schedule, watermark: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The half-open range (low, high] of anchor times whose `after` delay passed since `watermark`."""
    delay = timedelta(minutes=schedule.minutes)
    return watermark - delay, now - delay
