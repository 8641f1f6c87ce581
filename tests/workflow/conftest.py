"""Fixtures for the workflow pure cores: real calendars, policies and the real ServiceNow event log."""

from datetime import timedelta
from pathlib import Path

import pytest

from itsm_ai.workflow.business_calendar import BusinessCalendar
from itsm_ai.workflow.sla_clock import SlaPolicy
from tests.conftest import SHARED_DATA

EVENT_LOG = SHARED_DATA / "servicenow_incident_event_log.csv"


@pytest.fixture(scope="session")
def gb_calendar() -> BusinessCalendar:
    """Mon-Fri 09:00-17:00 in London with England's bank holidays."""
    return BusinessCalendar.office_hours(
        timezone="Europe/London", start="09:00", end="17:00", country="GB", subdiv="ENG", name="GB office"
    )


@pytest.fixture(scope="session")
def gb_policy(gb_calendar: BusinessCalendar) -> SlaPolicy:
    """A P3-like policy on the GB office calendar: respond in 4 business hours, resolve in 24."""
    return SlaPolicy(
        name="P3 GB",
        response_target=timedelta(hours=4),
        resolution_target=timedelta(hours=24),
        calendar=gb_calendar,
    )


@pytest.fixture(scope="session")
def event_log() -> Path:
    """The real ServiceNow incident event log, or a skip when ../shared/data is absent."""
    if not EVENT_LOG.is_file():
        pytest.skip(f"real data not available: {EVENT_LOG} is absent")
    return EVENT_LOG


@pytest.fixture(scope="session")
def full_event_log() -> Path:
    """The complete UCI incident event log (141,712 rows, gzip), or a skip when it is absent."""
    path = SHARED_DATA / "servicenow_incident_event_log_full.csv.gz"
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is absent")
    return path
