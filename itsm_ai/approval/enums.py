"""Approval states and policies."""

from enum import StrEnum


class ApprovalState(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    cancelled = "cancelled"


class ApprovalPolicy(StrEnum):
    """`any`: the first approval decides; `all`: every approver must approve (one rejection rejects)."""

    any = "any"
    all = "all"


class RecordApproval(StrEnum):
    """The `approval` field of a change or service request."""

    not_requested = "not_requested"
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
