"""Record lifecycle states (tickets and knowledge articles; their transition tables are in
workflow/transitions.py), and the values lifecycle rules look at (on-hold reasons, change types)."""

from enum import StrEnum


class IncidentState(StrEnum):
    new = "new"
    in_progress = "in_progress"
    on_hold = "on_hold"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class OnHoldReason(StrEnum):
    awaiting_caller = "awaiting_caller"
    awaiting_vendor = "awaiting_vendor"
    awaiting_problem = "awaiting_problem"
    awaiting_change = "awaiting_change"


class ProblemState(StrEnum):
    new = "new"
    assess = "assess"
    root_cause_analysis = "root_cause_analysis"
    known_error = "known_error"
    resolved = "resolved"
    closed = "closed"
    cancelled = "cancelled"


class ChangeType(StrEnum):
    standard = "standard"
    normal = "normal"
    emergency = "emergency"


class ChangeState(StrEnum):
    draft = "draft"
    assess = "assess"
    authorize = "authorize"
    scheduled = "scheduled"
    implement = "implement"
    review = "review"
    closed = "closed"
    cancelled = "cancelled"


class RequestState(StrEnum):
    submitted = "submitted"
    approval = "approval"
    fulfilment = "fulfilment"
    closed = "closed"
    rejected = "rejected"
    cancelled = "cancelled"


class ArticleState(StrEnum):
    draft = "draft"
    review = "review"
    published = "published"
    retired = "retired"
