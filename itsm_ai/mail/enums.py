"""What intake did with a message, and why a message is not a ticket."""

from enum import StrEnum


class IntakeOutcome(StrEnum):
    """The result of taking in one message."""

    ticket = "ticket"
    comment = "comment"
    follow_up = "follow_up"  # a reply to a closed ticket: a new ticket linked to it
    ignored = "ignored"  # loop protection: bounce, auto-reply, bulk, own address, rate limit
    refused = "refused"  # unknown sender while unknown senders are refused
    dead_letter = "dead_letter"
    duplicate = "duplicate"


class LoopKind(StrEnum):
    """Why a message must not open a ticket nor be answered (RFC 3834 and common practice)."""

    bounce = "bounce"
    read_receipt = "read_receipt"
    auto_reply = "auto_reply"
    bulk = "bulk"
    own_address = "own_address"
    rate_limited = "rate_limited"


class MailSource(StrEnum):
    smtp = "smtp"
    imap = "imap"
    file = "file"
