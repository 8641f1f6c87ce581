"""The mail worker: claim due notifications, send them over SMTP (STARTTLS/TLS, login), retry with backoff.

Claims work like the webhook deliveries (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional
UPDATE on SQLite, a lease that expires when a worker dies) and use their retry policy. A notification is sent
until the relay accepts it; if a worker dies between the relay's "250" and recording it, the mail goes out
again after the lease with the same Message-ID, which mail clients treat as the same message.
"""

from __future__ import annotations

import logging
import random
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from itsm_ai.config import get_settings
from itsm_ai.database import get_session, is_postgres, utcnow
from itsm_ai.notification.enums import DeliveryState
from itsm_ai.notification.models import Notification
from itsm_ai.webhooks.flows import RetryPolicy

log = logging.getLogger(__name__)


def policy() -> RetryPolicy:
    """Backoff from the settings (the same policy shape as webhook deliveries)."""
    settings = get_settings()
    return RetryPolicy(
        max_attempts=settings.notification_max_attempts,
        base_seconds=settings.notification_backoff_seconds,
        cap_seconds=settings.notification_backoff_cap_seconds,
        lease_seconds=max(120.0, settings.mail_smtp_timeout_seconds * 4),
        batch_size=50,
    )


@dataclass
class Claimed:
    """A claimed notification with what is needed to send it without the database."""

    id: int
    token: str
    attempt: int
    message: EmailMessage


def build_message(row: Notification) -> EmailMessage:
    """The RFC 5322 message of a notification, marked as automatic (RFC 3834) so responders stay quiet."""
    settings = get_settings()
    sender = settings.mail_from or settings.mail_address
    msg = EmailMessage()
    msg["From"] = formataddr(("Service desk", sender))
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = f"<{row.message_id}>"
    if row.in_reply_to:
        msg["In-Reply-To"] = f"<{row.in_reply_to}>"
    if row.references:
        msg["References"] = row.references
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-ITSM-Loop"] = settings.mail_address
    if row.number:
        msg["X-ITSM-Ticket"] = row.number
    msg.set_content(row.body)
    return msg


def claim(*, db_session: Session, now: datetime, retry: RetryPolicy) -> list[Claimed]:
    """Claim due pending notifications under a lease."""
    token = str(uuid.uuid4())
    stmt = (
        select(Notification.id)
        .where(
            Notification.status == DeliveryState.pending,
            Notification.next_attempt_at <= now,
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
        )
        .order_by(Notification.id)
        .limit(retry.batch_size)
    )
    if is_postgres(db_session):
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = []
    for nid in list(db_session.scalars(stmt)):
        result = db_session.execute(
            update(Notification)
            .where(
                Notification.id == nid,
                Notification.status == DeliveryState.pending,
                or_(Notification.lease_until.is_(None), Notification.lease_until < now),
            )
            .values(
                lease_until=now + timedelta(seconds=retry.lease_seconds),
                claim_token=token,
                attempts=Notification.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claimed.append(nid)
    db_session.expire_all()
    out = []
    for nid in claimed:
        row = db_session.get(Notification, nid)
        out.append(Claimed(nid, token, row.attempts, build_message(row)))
    return out


def connect() -> smtplib.SMTP:
    """An SMTP connection to the relay with the configured security and login."""
    settings = get_settings()
    host, port, timeout = settings.mail_smtp_host, settings.mail_smtp_port, settings.mail_smtp_timeout_seconds
    context = ssl.create_default_context(
        cafile=str(settings.mail_smtp_ca_file) if settings.mail_smtp_ca_file else None
    )
    if settings.mail_smtp_security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
        if settings.mail_smtp_security == "starttls":
            client.starttls(context=context)
    if settings.mail_smtp_user:
        client.login(settings.mail_smtp_user, settings.mail_smtp_password or "")
    return client


def _send(client: smtplib.SMTP, claimed: Claimed) -> tuple[bool, bool, str | None]:
    """(sent, permanent_failure, error)."""
    try:
        refused = client.send_message(claimed.message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        return False, all(c >= 500 for c in codes), f"recipient refused: {exc.recipients}"[:1000]
    except smtplib.SMTPResponseException as exc:
        return False, exc.smtp_code >= 500, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:1000]
    except (smtplib.SMTPException, OSError) as exc:
        return False, False, f"{type(exc).__name__}: {exc}"[:1000]
    if refused:
        return False, True, f"recipient refused: {refused}"[:1000]
    return True, False, None


def finish(
    *,
    db_session: Session,
    claimed: Claimed,
    sent: bool,
    permanent: bool,
    error: str | None,
    now: datetime,
    retry: RetryPolicy,
    rng: random.Random,
) -> str:
    """Record the outcome: sent, retry later, or failed (permanent error or attempts used up)."""
    values: dict = {"lease_until": None, "claim_token": None, "last_error": error}
    if sent:
        result = DeliveryState.sent
        values.update(status=result, sent_at=now)
    elif permanent or claimed.attempt >= retry.max_attempts:
        result = DeliveryState.failed
        values.update(status=result)
    else:
        result = "retrying"
        values.update(next_attempt_at=now + timedelta(seconds=retry.delay(claimed.attempt, rng)))
    db_session.execute(
        update(Notification)
        .where(Notification.id == claimed.id, Notification.claim_token == claimed.token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return str(result)


def send_pending(
    *, now: datetime | None = None, rng: random.Random | None = None, max_rounds: int = 20
) -> dict:
    """Worker job: mail every due notification; returns counts (or why nothing was tried)."""
    settings = get_settings()
    if not settings.mail_smtp_host:
        return {"skipped": "no SMTP relay configured"}
    retry, rng = policy(), rng or random.Random()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    for _ in range(max_rounds):
        moment = now or utcnow()
        with get_session() as db_session:
            batch = claim(db_session=db_session, now=moment, retry=retry)
        if not batch:
            break
        results = []
        try:
            client = connect()
        except (smtplib.SMTPException, OSError) as exc:
            error = f"cannot reach the relay: {type(exc).__name__}: {exc}"[:1000]
            results = [(c, False, False, error) for c in batch]
        else:
            try:
                for claimed in batch:
                    results.append((claimed, *_send(client, claimed)))
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    pass
        with get_session() as db_session:
            for claimed, sent, permanent, error in results:
                done = finish(
                    db_session=db_session,
                    claimed=claimed,
                    sent=sent,
                    permanent=permanent,
                    error=error,
                    now=now or utcnow(),
                    retry=retry,
                    rng=rng,
                )
                counts[done] += 1
    return counts
