"""Attachment visibility and where an attachment came from."""

from enum import StrEnum


class AttachmentVisibility(StrEnum):
    """Public attachments are shown to the ticket's requester; internal ones (work notes) only to staff."""

    public = "public"
    internal = "internal"


class AttachmentSource(StrEnum):
    upload = "upload"
    mail = "mail"
    raw_mail = "raw_mail"


# Record types that take attachments (every ticket type and knowledge articles).
ATTACHABLE_TYPES = frozenset({"incident", "problem", "change", "service_request", "knowledge_article"})
