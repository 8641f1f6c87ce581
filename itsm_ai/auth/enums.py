"""Roles."""

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: see DEVELOPERS.md and the access tests for the full matrix."""

    requester = "requester"
    agent = "agent"
    admin = "admin"
    data_scientist = "data_scientist"


STAFF_ROLES = frozenset({Role.agent, Role.admin})
READ_ALL_ROLES = frozenset({Role.agent, Role.admin, Role.data_scientist})
