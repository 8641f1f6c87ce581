"""Login throttle: sliding windows of failed logins per account and per client address.

An account with `login_max_failures_per_account` failures inside the window (counted since its last
successful login or admin unlock) is locked for the rest of the window; attempts refused while locked are not
counted, so a lock always ends. A login from an address the account has signed in from before is still
checked (someone guessing an admin's password elsewhere cannot lock the admin out), and an admin can lift a
lock. An address with `login_max_failures_per_address` failures inside the window is refused for any account.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from itsm_ai.auth.enums import LoginOutcome
from itsm_ai.auth.models import LoginAttempt
from itsm_ai.config import get_settings
from itsm_ai.errors import TooManyRequestsError

ADDRESS_MAX = 64


def _retry_after(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    if oldest is None:
        return int(window.total_seconds())
    return max(1, int((oldest + window - now).total_seconds()) + 1)


def check(*, db_session: Session, username: str, address: str, now: datetime) -> None:
    """Raise TooManyRequestsError (429 with Retry-After) when this login may not be tried now."""
    settings = get_settings()
    window = timedelta(seconds=settings.login_window_seconds)
    since = now - window
    address = address[:ADDRESS_MAX]
    by_address = select(func.count(), func.min(LoginAttempt.at)).where(
        LoginAttempt.address == address,
        LoginAttempt.outcome == LoginOutcome.failure,
        LoginAttempt.at >= since,
    )
    failures, oldest = db_session.execute(by_address).one()
    if failures >= settings.login_max_failures_per_address:
        raise TooManyRequestsError(
            "too many failed logins from this address; try again later",
            retry_after=_retry_after(oldest, window, now),
        )
    reset = db_session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username,
            LoginAttempt.outcome.in_([LoginOutcome.success, LoginOutcome.unlock]),
        )
    )
    start = max(since, reset) if reset is not None else since
    by_account = select(func.count(), func.min(LoginAttempt.at)).where(
        LoginAttempt.username == username,
        LoginAttempt.outcome == LoginOutcome.failure,
        LoginAttempt.at >= start,
    )
    failures, oldest = db_session.execute(by_account).one()
    if failures < settings.login_max_failures_per_account:
        return
    if known_address(db_session=db_session, username=username, address=address, now=now):
        return
    raise TooManyRequestsError(
        "too many failed logins for this account; try again later or ask an administrator to unlock it",
        retry_after=_retry_after(oldest, window, now),
    )


def known_address(*, db_session: Session, username: str, address: str, now: datetime) -> bool:
    """True when the account signed in successfully from this address within `login_known_address_days`."""
    since = now - timedelta(days=get_settings().login_known_address_days)
    return (
        db_session.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.username == username,
                LoginAttempt.address == address[:ADDRESS_MAX],
                LoginAttempt.outcome == LoginOutcome.success,
                LoginAttempt.at >= since,
            )
            .limit(1)
        )
        is not None
    )


def record(*, db_session: Session, username: str, address: str, outcome: LoginOutcome, now: datetime) -> None:
    """Note one outcome, and drop this account's and this address's rows that count no more (through the
    indexes, so a flood of failures never makes each login scan the whole table)."""
    settings = get_settings()
    address = address[:ADDRESS_MAX]
    db_session.add(LoginAttempt(username=username, address=address, outcome=outcome, at=now))
    stale_failures = now - 2 * timedelta(seconds=settings.login_window_seconds)
    stale_successes = now - timedelta(days=settings.login_known_address_days) - 2 * timedelta(
        seconds=settings.login_window_seconds
    )
    for column, value in ((LoginAttempt.username, username), (LoginAttempt.address, address)):
        db_session.execute(
            delete(LoginAttempt).where(
                column == value,
                LoginAttempt.at < stale_failures,
                or_(LoginAttempt.outcome == LoginOutcome.failure, LoginAttempt.at < stale_successes),
            )
        )
    db_session.flush()
