"""Login outcomes the throttle counts."""

from __future__ import annotations

from enum import StrEnum


class LoginOutcome(StrEnum):
    failure = "failure"
    success = "success"
    unlock = "unlock"  # an admin lifted the account's lock
