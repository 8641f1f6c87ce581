"""Report names, intervals, dimensions and the fixed buckets some reports count into."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    """The reports served at GET /api/v1/reports/{metric}."""

    volume = "volume"
    backlog = "backlog"
    resolution_time = "resolution-time"
    sla_compliance = "sla-compliance"
    reassignment = "reassignment"
    reopen = "reopen"
    first_contact_resolution = "first-contact-resolution"
    deflection = "deflection"
    knowledge = "knowledge"
    ai = "ai"


class Interval(StrEnum):
    """How rows are bucketed in time; `all` gives one row per group for the whole range."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    all = "all"


class Dimension(StrEnum):
    """Ticket fields a ticket report can be grouped by (`group_by`)."""

    type = "type"
    group = "group"
    category = "category"
    priority = "priority"
    assignee = "assignee"
    state = "state"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"


# Ticket types a report can cover (`type` filter), in the order they are listed.
TICKET_TYPES = ("incident", "service_request", "problem", "change")
# Only incidents keep reassignment and reopen counts.
COUNTED_TYPES = ("incident",)

# States in which a ticket no longer waits for work (it has left the backlog).
ENDED_STATES = frozenset({"resolved", "closed", "cancelled", "rejected"})
RESOLVED_STATES = frozenset({"resolved", "closed"})

# Backlog age buckets (upper bounds in seconds; the last is open-ended), as report columns.
DAY = 86_400
AGE_BOUNDS = (DAY, 3 * DAY, 7 * DAY, 30 * DAY)
AGE_COLUMNS = ("age_0_1d", "age_1_3d", "age_3_7d", "age_7_30d", "age_30d_plus")

# Resolution-time histogram buckets (upper bounds in seconds; the last is open-ended), as report columns.
HOUR = 3_600
RESOLVE_BOUNDS = (HOUR, 4 * HOUR, DAY, 3 * DAY, 7 * DAY)
RESOLVE_COLUMNS = (
    "resolved_0_1h",
    "resolved_1_4h",
    "resolved_4h_1d",
    "resolved_1_3d",
    "resolved_3_7d",
    "resolved_7d_plus",
)

# Stages of the SLA engine's clocks, as the compliance report counts them.
SLA_RUNNING = ("in_progress", "warning")
