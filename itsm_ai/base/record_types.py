"""Every numbered record type and its number prefix."""

from enum import StrEnum


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

# The record types that are tickets (they have a caller, an assignment, SLA clocks and rules).
TICKET_TYPES: tuple[RecordType, ...] = (
    RecordType.incident,
    RecordType.problem,
    RecordType.change,
    RecordType.service_request,
)
