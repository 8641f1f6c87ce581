"""Enumerations shared by ticket records: types, states, impact, urgency and priority."""

from enum import IntEnum, StrEnum


class RecordType(StrEnum):
    """Every record family that has a number, an audit trail and comments."""

    incident = "incident"
    problem = "problem"
    change = "change"
    service_request = "service_request"
    knowledge_article = "knowledge_article"
    asset = "asset"


NUMBER_PREFIXES: dict[RecordType, str] = {
    RecordType.incident: "INC",
    RecordType.problem: "PRB",
    RecordType.change: "CHG",
    RecordType.service_request: "REQ",
    RecordType.knowledge_article: "KB",
    RecordType.asset: "CI",
}


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


class Impact(IntEnum):
    high = 1
    medium = 2
    low = 3


class Urgency(IntEnum):
    high = 1
    medium = 2
    low = 3


class Priority(IntEnum):
    critical = 1
    high = 2
    moderate = 3
    low = 4


IMPACT_LABELS = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
URGENCY_LABELS = IMPACT_LABELS
PRIORITY_LABELS = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low"}


class ResolutionCode(StrEnum):
    solved = "solved"
    workaround = "workaround"
    duplicate = "duplicate"
    not_reproducible = "not_reproducible"
    user_error = "user_error"
    no_fault_found = "no_fault_found"
    closed_by_caller = "closed_by_caller"
    cancelled = "cancelled"
