"""Roles, the one definition of each set of roles, and what an acting user looks like."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    """What a user may do: see DEVELOPERS.md and the access tests for the full matrix."""

    requester = "requester"
    agent = "agent"
    admin = "admin"
    data_scientist = "data_scientist"


EVERYONE = frozenset(Role)
ADMINS = frozenset({Role.admin})
REQUESTERS = frozenset({Role.requester})
# Agents and admins: they work tickets and read the configuration.
STAFF = frozenset({Role.agent, Role.admin})
# Who opens tickets (data scientists only read them).
OPENERS = frozenset({Role.requester, Role.agent, Role.admin})
# Who reads every ticket: staff and data scientists.
READERS = frozenset({Role.agent, Role.admin, Role.data_scientist})
# Who works with data sets and models.
DATA_ROLES = frozenset({Role.admin, Role.data_scientist})


class Actor(Protocol):
    """The user a change is made by, as the store sees it."""

    id: int
    username: str
    role: Role
