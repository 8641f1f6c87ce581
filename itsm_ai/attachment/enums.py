"""Attachment visibility and where an attachment came from."""

from enum import StrEnum

from itsm_ai.base.record_types import TICKET_TYPES, RecordType


class AttachmentVisibility(StrEnum):
    """Public attachments are shown to the ticket's requester; internal ones (work notes) only to staff."""

    public = "public"
    internal = "internal"


class AttachmentSource(StrEnum):
    upload = "upload"
    mail = "mail"
    raw_mail = "raw_mail"


# Record types that take attachments (every ticket type and knowledge articles).
ATTACHABLE_TYPES = frozenset({*TICKET_TYPES, RecordType.knowledge_article})
