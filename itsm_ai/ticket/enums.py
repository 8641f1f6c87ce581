"""Enumerations of ticket fields that only ticket records use."""

from enum import StrEnum


class ResolutionCode(StrEnum):
    solved = "solved"
    workaround = "workaround"
    duplicate = "duplicate"
    not_reproducible = "not_reproducible"
    user_error = "user_error"
    no_fault_found = "no_fault_found"
    closed_by_caller = "closed_by_caller"
    cancelled = "cancelled"
