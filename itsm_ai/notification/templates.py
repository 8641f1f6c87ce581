"""Notification templates: the shipped default per event, and rendering in Jinja's sandbox.

Admins edit templates over the API, so rendering runs in `SandboxedEnvironment` (no attribute access to Python
internals) and a template is checked (syntax, then a trial render) before it is stored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from itsm_ai.notification.enums import NotificationEvent

VARIABLES = [
    "ticket.number",
    "ticket.short_description",
    "ticket.description",
    "ticket.state",
    "ticket.priority_label",
    "ticket.assignment_group",
    "ticket.assigned_to",
    "ticket.caller",
    "ticket.resolution_code",
    "ticket.resolution_notes",
    "recipient.username",
    "recipient.name",
    "actor",
    "comment",
    "url",
    "sla.kind",
    "sla.stage",
    "sla.deadline",
    "reason",
    "service_address",
]

_SIGN_OFF = "\n\n--\nThe service desk ({{ service_address }}). Reply to this mail to add to the ticket."
DEFAULTS: dict[NotificationEvent, tuple[str, str]] = {
    NotificationEvent.created: (
        "[{{ ticket.number }}] Received: {{ ticket.short_description }}",
        "Hello {{ recipient.name }},\n\nwe have received your request and opened {{ ticket.number }}:\n"
        "{{ ticket.short_description }}\n\nKeep the number [{{ ticket.number }}] in the subject when you "
        "write about it; replying to this mail does that for you.\n\nFollow it here: {{ url }}" + _SIGN_OFF,
    ),
    NotificationEvent.public_reply: (
        "[{{ ticket.number }}] New reply: {{ ticket.short_description }}",
        "Hello {{ recipient.name }},\n\n{{ actor }} replied on {{ ticket.number }}:\n\n{{ comment }}\n\n"
        "See the ticket: {{ url }}" + _SIGN_OFF,
    ),
    NotificationEvent.requester_reply: (
        "[{{ ticket.number }}] {{ actor }} replied: {{ ticket.short_description }}",
        "{{ actor }} replied on {{ ticket.number }} ({{ ticket.state }}):\n\n{{ comment }}\n\n{{ url }}",
    ),
    NotificationEvent.resolved: (
        "[{{ ticket.number }}] Resolved: {{ ticket.short_description }}",
        "Hello {{ recipient.name }},\n\n{{ ticket.number }} has been resolved"
        "{% if ticket.resolution_code %} ({{ ticket.resolution_code }}){% endif %}.\n\n"
        "{% if ticket.resolution_notes %}Resolution:\n{{ ticket.resolution_notes }}\n\n{% endif %}"
        "Not fixed? Reply to this mail (or reopen it at {{ url }}) and the ticket opens again." + _SIGN_OFF,
    ),
    NotificationEvent.approval_requested: (
        "[{{ ticket.number }}] Approval requested: {{ ticket.short_description }}",
        "Hello {{ recipient.name }},\n\nyour approval is requested for {{ ticket.number }}:\n"
        "{{ ticket.short_description }}\n\nDecide here: {{ url }}",
    ),
    NotificationEvent.assigned: (
        "[{{ ticket.number }}] Assigned to {{ ticket.assigned_to or ticket.assignment_group }}: "
        "{{ ticket.short_description }}",
        "{{ ticket.number }} ({{ ticket.priority_label }}) is now assigned to "
        "{{ ticket.assigned_to or ('the group ' ~ ticket.assignment_group) }}.\n\n"
        "{{ ticket.short_description }}\n\n{{ url }}",
    ),
    NotificationEvent.sla_warning: (
        "[{{ ticket.number }}] SLA warning ({{ sla.kind }}): {{ ticket.short_description }}",
        "The {{ sla.kind }} SLA of {{ ticket.number }} ({{ ticket.priority_label }}) is close to its deadline"
        "{% if sla.deadline %} ({{ sla.deadline }}){% endif %}.\n\n{{ url }}",
    ),
    NotificationEvent.sla_breach: (
        "[{{ ticket.number }}] SLA breached ({{ sla.kind }}): {{ ticket.short_description }}",
        "The {{ sla.kind }} SLA of {{ ticket.number }} ({{ ticket.priority_label }}) has been breached"
        "{% if sla.deadline %} (deadline {{ sla.deadline }}){% endif %}.\n\n{{ url }}",
    ),
    NotificationEvent.refused_sender: (
        "Your mail was not accepted: {{ subject }}",
        "Hello,\n\nthis service desk only takes mail from registered users, so your message "
        '"{{ subject }}" did not open a ticket ({{ reason }}).\n\nPlease use the portal or ask your '
        "administrator for an account.",
    ),
}


class TemplateError(ValueError):
    """A template that does not compile or render; `line` is its line number when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The sandbox every notification template renders in (plain text: no HTML escaping)."""
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def render(source: str, context: dict[str, Any]) -> str:
    """Render one template text in the sandbox; TemplateError naming the line on failure."""
    try:
        return environment().from_string(source).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}", exc.lineno) from exc
    except Exception as exc:  # noqa: BLE001 - sandbox violations and runtime errors alike are bad templates
        raise TemplateError(f"{type(exc).__name__}: {exc}") from exc


def with_tag(subject: str, number: str | None) -> str:
    """The subject on one line, carrying the [NUMBER] tag that threads replies (added when missing)."""
    subject = re.sub(r"\s+", " ", subject).strip()
    if number and f"[{number}]" not in subject:
        subject = f"[{number}] {subject}"
    return subject[:500]


def sample_context() -> dict[str, Any]:
    """Values to trial-render a template with before it is stored."""
    ticket = {
        "number": "INC0000001",
        "short_description": "VPN drops every 10 minutes",
        "description": "Since this morning.",
        "state": "in_progress",
        "priority_label": "3 - Moderate",
        "assignment_group": "Network",
        "assigned_to": "agent",
        "caller": "alice",
        "resolution_code": "solved",
        "resolution_notes": "Replaced the VPN client profile.",
    }
    return {
        "ticket": ticket,
        "recipient": {"username": "alice", "name": "Alice"},
        "actor": "agent",
        "comment": "Could you try again now?",
        "url": "http://127.0.0.1:8000/portal/tickets/INC0000001",
        "sla": {"kind": "resolution", "stage": "warning", "deadline": "2026-01-01T12:00:00+00:00"},
        "reason": "unknown sender",
        "subject": "Printer jammed",
        "service_address": "helpdesk@example.com",
    }
