"""What the admin condition builder offers: the ticket fields a condition may test, with their known values,
and the operators of the condition language (workflow/conditions.py), each with a readable label."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from itsm_ai.base.levels import IMPACT_LABELS, PRIORITY_LABELS, URGENCY_LABELS
from itsm_ai.ticket.service import INCIDENT
from itsm_ai.ui import form_choices
from itsm_ai.workflow.conditions import LIST_OPS, NO_VALUE_OPS

RECORD_TYPES = ("incident", "service_request", "problem", "change")

# Readable names of every operator the condition core accepts; a test keeps this in step with OPS.
OPERATOR_LABELS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
    "contains": "contains",
    "icontains": "contains (any case)",
    "starts_with": "starts with",
    "matches": "matches the pattern",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "changed": "changed",
    "changed_to": "changed to",
    "changed_from": "changed from",
}
# An SLA policy picks a policy for a ticket as it stands: "changed" compares with a previous version,
# which only a rule's update trigger has.
TEXT_OPS = frozenset({"contains", "icontains", "starts_with", "matches"})
SLA_OPERATORS = tuple(op for op in OPERATOR_LABELS if not op.startswith("changed"))


def _choices(labels: dict[int, str]) -> list[list[Any]]:
    return [[value, text] for value, text in labels.items()]


def catalog(*, db_session: Session, for_rules: bool) -> dict[str, Any]:
    """Fields (name, label, kind, known values) and operators for the condition builder of one form."""
    groups = form_choices.group_names(db_session=db_session)
    categories = form_choices.known_categories(db_session=db_session, spec=INCIDENT)
    fields: list[dict[str, Any]] = [
        {"name": "priority", "label": "Priority", "kind": "int", "values": _choices(PRIORITY_LABELS)},
        {"name": "impact", "label": "Impact", "kind": "int", "values": _choices(IMPACT_LABELS)},
        {"name": "urgency", "label": "Urgency", "kind": "int", "values": _choices(URGENCY_LABELS)},
        {"name": "category", "label": "Category", "kind": "str", "values": [[c, c] for c in categories]},
        {
            "name": "assignment_group",
            "label": "Assignment group",
            "kind": "str",
            "values": [[g, g] for g in groups],
        },
    ]
    if for_rules:
        fields += [
            {"name": "short_description", "label": "Short description", "kind": "str", "values": []},
            {"name": "description", "label": "Description", "kind": "str", "values": []},
            {"name": "state", "label": "State", "kind": "str", "values": []},
            {"name": "assigned_to", "label": "Assigned to", "kind": "str", "values": []},
            {
                "name": "suggestions.fields.category.confidence",
                "label": "Suggested category: confidence (0-1)",
                "kind": "float",
                "values": [],
            },
        ]
    else:
        fields = [
            {
                "name": "record_type",
                "label": "Ticket type",
                "kind": "str",
                "values": [[t, t.replace("_", " ")] for t in RECORD_TYPES],
            },
            *fields,
            {"name": "service", "label": "Service", "kind": "str", "values": []},
            {"name": "caller_organisation", "label": "Caller's organisation", "kind": "str", "values": []},
        ]
    ops = OPERATOR_LABELS if for_rules else {op: OPERATOR_LABELS[op] for op in SLA_OPERATORS}
    for field in fields:
        # Text operators need a text value: a number field offers the others.
        field["ops"] = [op for op in ops if field["kind"] == "str" or op not in TEXT_OPS]
    return {
        "fields": fields,
        "operators": [[op, text] for op, text in ops.items()],
        "no_value": sorted(op for op in ops if op in NO_VALUE_OPS),
        "list_ops": sorted(LIST_OPS),
    }


WEEKDAYS = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)


def time_zones() -> list[str]:
    """IANA zone names a calendar may use, UTC first."""
    from zoneinfo import available_timezones

    # Legacy aliases ("US/Eastern", "Etc/GMT+3") only lengthen the list; region/city names cover every zone.
    zones = sorted(
        z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))
    )
    return ["UTC", *zones]
