"""SLA audit actions, domain-event kinds and the default state roles of stored policies."""

from enum import StrEnum

from itsm_ai.workflow.sla_clock import ClockEventKind

# Audit `source` and domain-event `source` of everything the SLA engine writes.
SLA_SOURCE = "sla"


class SlaAuditAction(StrEnum):
    """The audit trail's `action` for each clock change (`field` holds the clock kind)."""

    start = "sla_start"
    pause = "sla_pause"
    resume = "sla_resume"
    stop = "sla_stop"
    warning = "sla_warning"
    breach = "sla_breach"
    policy_changed = "sla_policy_changed"
    escalation_failed = "sla_escalation_failed"


class SlaEventKind(StrEnum):
    """Domain-event kinds the sweep publishes, so automation rules can trigger on them."""

    warning = "sla_warning"
    breach = "sla_breach"


# The lifecycle clock events audited by the listener (warning and breach are fired by the sweep).
LIFECYCLE_EVENTS = frozenset(
    {ClockEventKind.start, ClockEventKind.pause, ClockEventKind.resume, ClockEventKind.stop}
)

# State roles a stored policy gets when the admin does not say: they cover the intake and final states of
# incidents, problems and service requests (a change policy names its own).
DEFAULT_PAUSED_STATES = ("on_hold",)
DEFAULT_RESPONSE_STATES = ("new", "submitted")
DEFAULT_STOP_STATES = ("resolved", "closed")
DEFAULT_CANCEL_STATES = ("cancelled", "rejected")

# Action types an escalation may use; webhooks and linked records belong to automation rules (which can
# trigger on the sla_warning / sla_breach events).
ESCALATION_ACTION_TYPES = ("set_field", "assign_group", "assign_user", "add_comment")
