"""The catalogue of reports: each metric's function and description, and the display labels of group keys.

The metrics themselves live by family: `ticket_metrics` (volume, backlog, resolution time, SLA compliance,
reassignment, reopen, first-contact resolution), `channel_metrics` (deflection, knowledge) and `ai_metrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.base.levels import PRIORITY_LABELS
from itsm_ai.group.models import Group
from itsm_ai.reports.ai_metrics import ai
from itsm_ai.reports.channel_metrics import deflection, knowledge
from itsm_ai.reports.context import Context, Figures
from itsm_ai.reports.enums import Dimension, Metric
from itsm_ai.reports.ticket_metrics import (
    backlog,
    first_contact_resolution,
    reassignment,
    reopen,
    resolution_time,
    sla_compliance,
    volume,
)

DESCRIPTIONS = {
    Metric.volume: "Tickets opened, resolved and closed per period.",
    Metric.backlog: "Open tickets at each period end, with their age in buckets, and what entered and left.",
    Metric.resolution_time: "Time to resolve and to first response (mean, median, p90; wall and business "
    "hours) with a histogram.",
    Metric.sla_compliance: "Tickets opened per period by SLA outcome (met, breached, in progress, ...) and "
    "the compliance rate, for the resolution and response clocks.",
    Metric.reassignment: "Resolved incidents and the share resolved without reassignment.",
    Metric.reopen: "Resolved incidents and the share that had been reopened.",
    Metric.first_contact_resolution: "Resolved incidents never reassigned nor reopened.",
    Metric.deflection: "Virtual-agent conversations by outcome and the deflection rate.",
    Metric.knowledge: "Helpful and unhelpful votes, publications, lifetime views (interval=all).",
    Metric.ai: "Triage suggestions per field, model and version: coverage, accept and override rates.",
}

METRICS: dict[Metric, Callable[[Context], dict[tuple, list[Figures]]]] = {
    Metric.volume: volume,
    Metric.backlog: backlog,
    Metric.resolution_time: resolution_time,
    Metric.sla_compliance: sla_compliance,
    Metric.reassignment: reassignment,
    Metric.reopen: reopen,
    Metric.first_contact_resolution: first_contact_resolution,
    Metric.deflection: deflection,
    Metric.knowledge: knowledge,
    Metric.ai: ai,
}


# ----------------------------------------------------------------------------------------------- labels


def group_labels(db_session: Session, group_by: str | None, values: Sequence[Any]) -> dict[Any, Any]:
    """Display values of group keys: group and user names for ids, priority labels."""
    present = [v for v in values if v is not None]
    if group_by == Dimension.group and present:
        rows = db_session.execute(select(Group.id, Group.name).where(Group.id.in_(present)))
        return dict(rows.all())
    if group_by == Dimension.assignee and present:
        rows = db_session.execute(select(User.id, User.username).where(User.id.in_(present)))
        return dict(rows.all())
    if group_by == Dimension.priority:
        return {v: PRIORITY_LABELS.get(int(v), str(v)) for v in present}
    return {v: v for v in present}
