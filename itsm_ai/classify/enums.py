"""Triage statuses and modes."""

from enum import StrEnum


class FieldMode(StrEnum):
    """Per target field: no model run, suggest only, or apply the value when it clears the class threshold."""

    off = "off"
    suggest = "suggest"
    auto = "auto"


class SuggestionStatus(StrEnum):
    """What happened to one field's suggestion."""

    suggested = "suggested"
    applied = "applied"
    abstained = "abstained"
    unavailable = "unavailable"
    off = "off"


class FeedbackAction(StrEnum):
    accepted = "accepted"
    overridden = "overridden"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
