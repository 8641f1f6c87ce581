"""Business calendars: exact examples across weekends, bank holidays and DST, and property checks."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itsm_ai.workflow.business_calendar import CALENDAR_24X7, BusinessCalendar, parse_interval

LONDON = ZoneInfo("Europe/London")
H = timedelta(hours=1)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_is_open_respects_hours_weekends_and_christmas(gb_calendar):
    assert gb_calendar.is_open(at(2024, 12, 20, 9, 0))
    assert not gb_calendar.is_open(at(2024, 12, 20, 17, 0))  # closing time is closed
    assert not gb_calendar.is_open(at(2024, 12, 20, 8, 59))
    assert not gb_calendar.is_open(at(2024, 12, 21, 12, 0))  # Saturday
    assert gb_calendar.is_open(at(2024, 12, 24, 12, 0))  # Christmas Eve is a working day in England
    assert not gb_calendar.is_open(at(2024, 12, 25, 12, 0))  # Christmas Day
    assert not gb_calendar.is_open(at(2024, 12, 26, 12, 0))  # Boxing Day
    assert gb_calendar.is_holiday(date(2025, 1, 1))


def test_add_business_time_across_weekend_and_christmas(gb_calendar):
    friday_4pm = at(2024, 12, 20, 16, 0)
    assert gb_calendar.add_business_time(friday_4pm, 1 * H) == at(2024, 12, 20, 17, 0)
    assert gb_calendar.add_business_time(friday_4pm, 8 * H) == at(2024, 12, 23, 16, 0)
    # 1h Fri + 8h Mon 23 + 8h Tue 24, Christmas and Boxing Day closed, 7h on Fri 27.
    assert gb_calendar.add_business_time(friday_4pm, 24 * H) == at(2024, 12, 27, 16, 0)
    # Starting on a closed day counts from the next opening.
    assert gb_calendar.add_business_time(at(2024, 12, 25, 10, 0), 30 * timedelta(minutes=1)) == at(
        2024, 12, 27, 9, 30
    )


def test_business_time_between_exact(gb_calendar):
    assert gb_calendar.business_time_between(at(2024, 12, 20, 16, 0), at(2024, 12, 27, 16, 0)) == 24 * H
    assert gb_calendar.business_time_between(at(2024, 12, 27, 16, 0), at(2024, 12, 20, 16, 0)) == -24 * H
    assert gb_calendar.business_time_between(at(2024, 12, 21, 0, 0), at(2024, 12, 23, 0, 0)) == timedelta(0)
    # A full ISO week in January 2025 with no holiday: 5 x 8 hours.
    assert gb_calendar.business_time_between(at(2025, 1, 6, 0, 0), at(2025, 1, 13, 0, 0)) == 40 * H


def test_zero_duration_and_results_in_the_input_zone(gb_calendar):
    saturday = at(2024, 12, 21, 12, 0)
    assert gb_calendar.add_business_time(saturday, timedelta(0)) == saturday
    utc_start = datetime(2024, 12, 20, 16, 0, tzinfo=UTC)  # 16:00 UTC = 16:00 GMT
    result = gb_calendar.add_business_time(utc_start, 2 * H)
    assert result.tzinfo is UTC and result == datetime(2024, 12, 23, 10, 0, tzinfo=UTC)


def test_daylight_saving_is_counted_in_real_time():
    london_24x7 = BusinessCalendar.twenty_four_seven(timezone="Europe/London")
    # Clocks went forward at 01:00 GMT on 31 March 2024: the local day had 23 hours.
    day = (at(2024, 3, 31, 0, 0), at(2024, 4, 1, 0, 0))
    assert london_24x7.business_time_between(*day) == 23 * H
    assert CALENDAR_24X7.business_time_between(*day) == 23 * H
    assert london_24x7.add_business_time(at(2024, 3, 31, 0, 30), 2 * H) == at(2024, 3, 31, 3, 30)
    # Office hours keep their local wall-clock meaning across the change.
    office = BusinessCalendar.office_hours(timezone="Europe/London", days=["fri", "mon"])
    assert office.add_business_time(at(2024, 3, 29, 17, 0), 2 * H) == at(2024, 4, 1, 9, 0)
    assert office.add_business_time(at(2024, 3, 29, 17, 0), 2 * H).utcoffset() == H


def test_extra_holidays_and_split_hours():
    cal = BusinessCalendar.from_json(
        {
            "timezone": "Europe/Paris",
            "hours": {"mon": ["08:00-12:00", "13:00-17:00"], "tue": "08:00-12:00"},
            "extra_holidays": ["2025-01-07"],
        }
    )
    paris = ZoneInfo("Europe/Paris")
    monday = datetime(2025, 1, 6, 11, 0, tzinfo=paris)
    assert not cal.is_open(datetime(2025, 1, 6, 12, 30, tzinfo=paris))
    # 1h Mon morning + 4h Mon afternoon; Tue 7 Jan is closed; next Monday 08:00 + 1h.
    assert cal.add_business_time(monday, 6 * H) == datetime(2025, 1, 13, 9, 0, tzinfo=paris)
    assert cal.next_open(datetime(2025, 1, 7, 9, 0, tzinfo=paris)) == datetime(
        2025, 1, 13, 8, 0, tzinfo=paris
    )
    assert BusinessCalendar.from_json(cal.to_json()) == cal


def test_naive_datetimes_are_refused(gb_calendar):
    naive = datetime(2024, 12, 20, 10, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        gb_calendar.is_open(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        gb_calendar.add_business_time(naive, H)
    with pytest.raises(ValueError, match="timezone-aware"):
        gb_calendar.business_time_between(at(2024, 12, 20, 10, 0), naive)
    with pytest.raises(ValueError, match="negative"):
        gb_calendar.add_business_time(at(2024, 12, 20, 10, 0), -H)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA"),
        ({"timezone": "UTC", "country": "XX"}, "holidays"),
        ({"timezone": "UTC", "country": "GB", "subdiv": "XYZ"}, "holidays"),
        ({"timezone": "UTC", "days": []}, "at least one"),
        ({"timezone": "UTC", "start": "18:00", "end": "08:00"}, "end after"),
    ],
)
def test_bad_configuration_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.office_hours(**kwargs)


def test_parse_interval():
    assert parse_interval("00:00-24:00") == (0, 1440)
    for bad in ["8-18", "08:00-24:30", "08:61-09:00", "09:00"]:
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_long_spans_walk_days_not_minutes(gb_calendar):
    start = at(2024, 1, 2, 9, 0)
    # Ten years of 8-hour working days: 10 * ~252 working days; exactness via the inverse function.
    end = gb_calendar.add_business_time(start, 20_000 * H)
    assert end.year == 2033
    assert gb_calendar.business_time_between(start, end) == 20_000 * H


# -- properties --------------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2023, 12, 1), max_value=datetime(2025, 2, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(second=0, microsecond=0))
durations = st.integers(min_value=0, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))


@settings(max_examples=150, deadline=None)
@given(start=instants, duration=durations)
def test_between_inverts_add(gb_calendar, start, duration):
    end = gb_calendar.add_business_time(start, duration)
    assert end >= start
    assert gb_calendar.business_time_between(start, end) == duration
    if duration:
        # The earliest such instant: a minute earlier is not enough.
        assert gb_calendar.business_time_between(start, end - timedelta(minutes=1)) < duration


@settings(max_examples=150, deadline=None)
@given(a=instants, b=instants, c=instants)
def test_between_is_additive_and_bounded_by_wall_time(gb_calendar, a, b, c):
    a, b, c = sorted([a, b, c])
    ab, bc = gb_calendar.business_time_between(a, b), gb_calendar.business_time_between(b, c)
    assert ab + bc == gb_calendar.business_time_between(a, c)
    assert timedelta(0) <= ab <= b - a


@settings(max_examples=100, deadline=None)
@given(start=instants)
def test_is_open_agrees_with_business_time(gb_calendar, start):
    one_minute = gb_calendar.business_time_between(start, start + timedelta(minutes=1))
    assert (one_minute == timedelta(minutes=1)) == gb_calendar.is_open(start)
