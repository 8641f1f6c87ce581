"""Notification events and delivery states."""

from enum import StrEnum


class NotificationEvent(StrEnum):
    """What a notification is about; each has its own editable template."""

    created = "created"
    public_reply = "public_reply"
    requester_reply = "requester_reply"
    resolved = "resolved"
    approval_requested = "approval_requested"
    assigned = "assigned"
    sla_warning = "sla_warning"
    sla_breach = "sla_breach"
    refused_sender = "refused_sender"


class DeliveryState(StrEnum):
    """The e-mail side of a notification (the in-app side is `read_at`)."""

    pending = "pending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"  # opted out, no address, or no answer allowed (RFC 3834)
