"""The intake log, threading look-ups, senders, and the dead-letter folder."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from itsm_ai.auth import service as user_service
from itsm_ai.auth.models import USERNAME_PATTERN, User, UserCreate
from itsm_ai.base.record_types import NUMBER_PREFIXES, TICKET_TYPES
from itsm_ai.base.roles import Role
from itsm_ai.config import get_settings
from itsm_ai.database import utcnow
from itsm_ai.mail.enums import IntakeOutcome
from itsm_ai.mail.models import MESSAGE_ID_MAX, MailMessage
from itsm_ai.notification import service as notification_service
from itsm_ai.notification.models import Notification

PREFIX_TYPES = {NUMBER_PREFIXES[t]: str(t) for t in TICKET_TYPES}
TAG = re.compile(r"\[(" + "|".join(PREFIX_TYPES) + r")(\d{4,12})\]", re.IGNORECASE)
_USERNAME = re.compile(USERNAME_PATTERN)


def dead_letter_dir() -> Path:
    """Where refused messages are kept with their reason."""
    settings = get_settings()
    return Path(settings.mail_dead_letter_dir or settings.data_dir / "mail" / "dead-letter")


def spool_dir() -> Path:
    """Where received, not yet processed messages wait."""
    settings = get_settings()
    return Path(settings.mail_spool_dir or settings.data_dir / "mail" / "spool")


def clip_id(message_id: str) -> str:
    """A Message-ID that fits the column (absurdly long ones are cut; they still dedupe among themselves)."""
    return message_id[:MESSAGE_ID_MAX]


def seen(*, db_session: Session, message_id: str) -> MailMessage | None:
    """The intake row of a Message-ID taken in before, if any."""
    return db_session.scalar(select(MailMessage).where(MailMessage.message_id == clip_id(message_id)))


def record(*, db_session: Session, message_id: str, outcome: IntakeOutcome, **fields) -> MailMessage:
    """Write the intake row of a message (in the transaction of what it caused)."""
    if fields.get("subject"):
        fields["subject"] = fields["subject"][:500]
    if fields.get("sender"):
        fields["sender"] = fields["sender"][:254]
    row = MailMessage(message_id=clip_id(message_id), outcome=outcome, received_at=utcnow(), **fields)
    db_session.add(row)
    db_session.flush()
    return row


def recent_from(*, db_session: Session, sender: str, minutes: float) -> int:
    """How many messages the sender sent within the window (for the rate limit)."""
    since = utcnow() - timedelta(minutes=minutes)
    return int(
        db_session.scalar(
            select(func.count())
            .select_from(MailMessage)
            .where(MailMessage.sender == sender, MailMessage.received_at >= since)
        )
        or 0
    )


def tagged_number(subject: str) -> tuple[str, str] | None:
    """(record_type, number) of the first [INC0000123]-style tag in a subject."""
    match = TAG.search(subject or "")
    if match is None:
        return None
    prefix = match.group(1).upper()
    return PREFIX_TYPES[prefix], f"{prefix}{match.group(2)}"


def thread_of(*, db_session: Session, message_ids: list[str]) -> tuple[str, int] | None:
    """The ticket a message answers, by the Message-IDs of mail this service sent or took in."""
    ids = [clip_id(i) for i in message_ids if i][:50]
    if not ids:
        return None
    for model in (Notification, MailMessage):
        rows = db_session.execute(
            select(model.message_id, model.record_type, model.record_id).where(
                model.message_id.in_(ids), model.record_id.is_not(None)
            )
        ).all()
        by_id = {r.message_id: (r.record_type, r.record_id) for r in rows}
        for message_id in ids:  # the order given: In-Reply-To first, then References newest first
            if message_id in by_id:
                return by_id[message_id]
    return None


def first_message_id(db_session: Session, record_type: str, record_id: int) -> str | None:
    """The Message-ID of the first mail taken in on a record: where its mail thread began."""
    return db_session.scalar(
        select(MailMessage.message_id)
        .where(MailMessage.record_type == record_type, MailMessage.record_id == record_id)
        .order_by(MailMessage.id)
        .limit(1)
    )


def install() -> None:
    """Let outgoing notifications thread onto the mail a record came in with (run by itsm_ai.all_models)."""
    notification_service.add_thread_root(first_message_id)


def user_by_email(*, db_session: Session, address: str) -> User | None:
    """The active user with this e-mail address (the oldest account when several share it)."""
    return db_session.scalar(
        select(User)
        .where(func.lower(User.email) == address.lower(), User.active.is_(True))
        .order_by(User.id)
        .limit(1)
    )


def _username_for(db_session: Session, address: str) -> str:
    base = re.sub(r"[^A-Za-z0-9 ._@+-]", "_", address)[:70].lstrip("._@+- ") or "mail-user"
    candidate, n = base, 1
    while user_service.get_by_username(db_session=db_session, username=candidate) is not None:
        n += 1
        candidate = f"{base[:70]}-{n}"
    return candidate if _USERNAME.match(candidate) else f"mail-user-{abs(hash(address)) % 10**8}"


def create_requester(*, db_session: Session, address: str, name: str | None) -> User:
    """A password-less requester for a new sender (they can be given a password or SSO later)."""
    user_in = UserCreate.model_construct(
        username=_username_for(db_session, address),
        full_name=(name or None) and name[:160],
        email=address,
        role=Role.requester,
        organisation=None,
        active=True,
        password=None,
    )
    return user_service.create(db_session=db_session, user_in=user_in, actor=None)


def write_dead_letter(raw: bytes, *, reason: str, code: str, source: str, message_id: str | None) -> str:
    """Keep a refused message and its reason in the dead-letter folder; returns the file name."""
    folder = dead_letter_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    name = f"{stamp}-{os.urandom(6).hex()}.eml"
    (folder / name).write_bytes(raw)
    meta = {
        "reason": reason,
        "code": code,
        "source": source,
        "message_id": message_id,
        "at": utcnow().isoformat(),
    }
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=2))
    return name


def list_log(
    *, db_session: Session, outcome: IntakeOutcome | None = None, limit: int = 100
) -> list[MailMessage]:
    """The intake log, newest first."""
    stmt = select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)
    if outcome is not None:
        stmt = stmt.where(MailMessage.outcome == outcome)
    return list(db_session.scalars(stmt))
