"""Enumerations of automation rules: what triggers a rule."""

from enum import StrEnum


class Trigger(StrEnum):
    """When a rule is evaluated: on a domain event of its record type, or by the scheduler."""

    created = "created"
    updated = "updated"
    state_changed = "state_changed"
    sla_warning = "sla_warning"
    sla_breach = "sla_breach"
    scheduled = "scheduled"


# Domain event kinds (records.events.RecordEvent.kind) that map one-to-one onto a trigger.
EVENT_TRIGGERS = {
    "created": Trigger.created,
    "updated": Trigger.updated,
    "sla_warning": Trigger.sla_warning,
    "sla_breach": Trigger.sla_breach,
}
