"""Taking in one message: dedupe, loop protection, rate limit, sender, threading, ticket or comment, files.

Every message is handled in one transaction: the ticket (or comment), its attachments, the raw .eml and the
intake row commit together or not at all, so no ticket is ever half-made. A message that cannot be taken in
goes to the dead-letter folder with the reason. Database outages are not the message's fault: they raise
`TransientError` and the caller keeps the message (spool file, IMAP mailbox) to try again.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.orm import Session

from itsm_ai.attachment import service as attachment_service
from itsm_ai.attachment.enums import AttachmentSource, AttachmentVisibility
from itsm_ai.audit import service as audit_service
from itsm_ai.comment import service as comment_service
from itsm_ai.comment.models import CommentCreate, Visibility
from itsm_ai.config import get_settings
from itsm_ai.database import get_session
from itsm_ai.errors import AppError
from itsm_ai.mail import loops, parsing, replies, safety
from itsm_ai.mail import service as mail_service
from itsm_ai.mail.enums import IntakeOutcome, MailSource
from itsm_ai.mail.parsing import BadMail, ParsedMail
from itsm_ai.notification import service as notification_service
from itsm_ai.notification.enums import NotificationEvent
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action, RecordSpec
from itsm_ai.ticket.models import IncidentCreate, ServiceRequestCreate
from itsm_ai.ticket.service import INCIDENT, SERVICE_REQUEST, TICKET_SPECS

log = logging.getLogger(__name__)
MAIL_SOURCE = "mail"
CLOSED = frozenset({"closed", "cancelled"})
NO_TEXT = "(The mail had no text; see its attachments.)"
CREATE_SCHEMAS = {
    "incident": (INCIDENT, IncidentCreate),
    "service_request": (SERVICE_REQUEST, ServiceRequestCreate),
}


class TransientError(Exception):
    """The database could not be reached; the message was not taken in and should be tried again."""


@dataclass
class IntakeResult:
    """What became of one message."""

    outcome: IntakeOutcome
    message_id: str | None = None
    reason: str | None = None
    number: str | None = None
    comment_id: int | None = None
    dead_letter_file: str | None = None


def header_message_id(raw: bytes) -> str:
    match = re.search(rb"^message-id:\s*<([^<>\s]+)>", raw[:65536], re.IGNORECASE | re.MULTILINE)
    return match.group(1).decode("ascii", "replace") if match else parsing.synthetic_message_id(raw)


def take_in(raw: bytes, *, source: MailSource | str, recipients: list[str] | None = None) -> IntakeResult:
    """Take in one raw message; never raises for bad mail (dead letter), raises TransientError for outages."""
    settings = get_settings()
    if len(raw) > settings.mail_max_message_bytes:
        limit = settings.mail_max_message_bytes
        reason = f"message of {len(raw)} bytes is over ITSM_MAIL_MAX_MESSAGE_BYTES={limit}"
        return dead_letter(
            raw, reason=reason, code="too_large", source=source, message_id=header_message_id(raw)
        )
    try:
        parsed = parsing.parse(raw, max_parts=settings.mail_max_parts)
    except BadMail as exc:
        return dead_letter(
            raw, reason=exc.reason, code=exc.code, source=source, message_id=header_message_id(raw)
        )
    try:
        with get_session() as db_session:
            return _take_in(db_session, raw, parsed, str(source), recipients or [])
    except BadMail as exc:
        return dead_letter(raw, reason=exc.reason, code=exc.code, source=source, message_id=parsed.message_id)
    except IntegrityError:
        # The same Message-ID was committed meanwhile by another intake process: this one is the duplicate.
        with get_session() as db_session:
            if mail_service.seen(db_session=db_session, message_id=parsed.message_id) is not None:
                return IntakeResult(IntakeOutcome.duplicate, parsed.message_id, "already taken in")
        raise
    except (OperationalError, SAInterfaceError) as exc:
        raise TransientError(f"database unavailable: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - one broken message must not stop the intake
        log.exception("intake of %s failed", parsed.message_id)
        reason = f"intake failed: {type(exc).__name__}: {exc}"[:2000]
        return dead_letter(raw, reason=reason, code="error", source=source, message_id=parsed.message_id)


def dead_letter(
    raw: bytes, *, reason: str, code: str, source: MailSource | str, message_id: str
) -> IntakeResult:
    """Keep the message in the dead-letter folder and log it (once per Message-ID)."""
    name = mail_service.write_dead_letter(
        raw, reason=reason, code=code, source=str(source), message_id=message_id
    )
    sender = None
    match = re.search(
        rb"^from:.*?([\w.+'=-]+@[\w-]+(?:\.[\w-]+)+)", raw[:65536], re.IGNORECASE | re.MULTILINE
    )
    if match:
        sender = match.group(1).decode("ascii", "replace").lower()
    try:
        with get_session() as db_session:
            if mail_service.seen(db_session=db_session, message_id=message_id) is None:
                mail_service.record(
                    db_session=db_session,
                    message_id=message_id,
                    outcome=IntakeOutcome.dead_letter,
                    source=str(source),
                    sender=sender,
                    reason=f"{code}: {reason}",
                    size=len(raw),
                    dead_letter_file=name,
                )
    except IntegrityError:
        pass  # logged by a parallel intake of the same message
    except (OperationalError, SAInterfaceError) as exc:
        raise TransientError(f"database unavailable: {exc}") from exc
    return IntakeResult(IntakeOutcome.dead_letter, message_id, f"{code}: {reason}", dead_letter_file=name)


def _take_in(
    db_session: Session, raw: bytes, parsed: ParsedMail, source: str, recipients: list[str]
) -> IntakeResult:
    settings = get_settings()
    if mail_service.seen(db_session=db_session, message_id=parsed.message_id) is not None:
        return IntakeResult(IntakeOutcome.duplicate, parsed.message_id, "already taken in")
    base: dict[str, Any] = {
        "message_id": parsed.message_id,
        "source": source,
        "sender": parsed.from_address,
        "subject": parsed.subject,
        "size": len(raw),
    }
    verdict, may_reply = loops.check(
        parsed,
        own_addresses=notification_service.own_addresses(),
        bulk_is_ticket=settings.mail_bulk_creates_tickets,
    )
    if verdict is not None:
        reason = f"{verdict.kind}: {verdict.reason}"
        mail_service.record(db_session=db_session, outcome=IntakeOutcome.ignored, reason=reason, **base)
        return IntakeResult(IntakeOutcome.ignored, parsed.message_id, reason)
    sent = mail_service.recent_from(
        db_session=db_session, sender=parsed.from_address, minutes=settings.mail_rate_limit_minutes
    )
    if sent >= settings.mail_rate_limit_count:
        reason = (
            f"rate_limited: {parsed.from_address} sent {sent} mails within "
            f"{settings.mail_rate_limit_minutes:g} "
            f"minutes (ITSM_MAIL_RATE_LIMIT_COUNT={settings.mail_rate_limit_count})"
        )
        mail_service.record(db_session=db_session, outcome=IntakeOutcome.ignored, reason=reason, **base)
        return IntakeResult(IntakeOutcome.ignored, parsed.message_id, reason)
    for attachment in parsed.attachments:
        bomb = safety.bomb_reason(
            attachment.data,
            max_unpacked=settings.mail_max_unpacked_bytes,
            max_ratio=settings.mail_max_compression_ratio,
        )
        if bomb:
            raise BadMail(f"{attachment.filename}: {bomb}", "archive_bomb")
    user = mail_service.user_by_email(db_session=db_session, address=parsed.from_address)
    if user is None:
        if settings.mail_unknown_senders == "refuse":
            reason = f"unknown sender {parsed.from_address} (ITSM_MAIL_UNKNOWN_SENDERS=refuse)"
            notification_service.enqueue(
                db_session=db_session,
                event=NotificationEvent.refused_sender,
                user=None,
                address=parsed.from_address,
                extra={"subject": parsed.subject, "reason": "unknown sender"},
                allow_email=may_reply,
            )
            mail_service.record(db_session=db_session, outcome=IntakeOutcome.refused, reason=reason, **base)
            return IntakeResult(IntakeOutcome.refused, parsed.message_id, reason)
        user = mail_service.create_requester(
            db_session=db_session, address=parsed.from_address, name=parsed.from_name
        )
    db_session.info[notification_service.NO_AUTO_REPLY] = not may_reply
    db_session.info[notification_service.INBOUND_IDS] = [parsed.message_id]
    thread = _thread(db_session, parsed, user)
    if thread is not None and thread[1].state not in CLOSED:
        return _comment(db_session, raw, parsed, user, *thread, base)
    return _ticket(db_session, raw, parsed, user, recipients, base, follows=thread)


def _thread(db_session: Session, parsed: ParsedMail, user) -> tuple[RecordSpec, Any] | None:
    """The ticket a message answers: by subject tag (only for a sender who may write on it), then by
    In-Reply-To/References (holding a Message-ID of the thread shows the sender was sent that mail: a Cc'd
    colleague may answer too)."""
    candidates: list[tuple[str, Any, bool]] = []
    tagged = mail_service.tagged_number(parsed.subject)
    if tagged is not None:
        candidates.append((*tagged, True))
    by_id = mail_service.thread_of(db_session=db_session, message_ids=parsed.thread_ids)
    if by_id is not None:
        candidates.append((*by_id, False))
    for record_type, ref, check_access in candidates:
        spec = TICKET_SPECS.get(record_type)
        if spec is None:
            continue
        try:
            obj = record_service.get(db_session=db_session, spec=spec, ref=ref)
            if check_access:
                spec.access.check(user, Action.comment, obj, noun=spec.noun)
        except AppError:
            continue  # unknown number, or a guessed tag of a ticket this sender may not see: a new ticket
        return spec, obj
    return None


def _record_type(parsed: ParsedMail, recipients: list[str]) -> str:
    settings = get_settings()
    routes = {k.lower(): v for k, v in settings.mail_routes.items()}
    for address in [*recipients, *parsed.to, *parsed.cc]:
        if address.lower() in routes and routes[address.lower()] in CREATE_SCHEMAS:
            return routes[address.lower()]
    for rule in settings.mail_subject_rules:
        try:
            if (
                re.search(rule.get("pattern", ""), parsed.subject or "")
                and rule.get("record_type") in CREATE_SCHEMAS
            ):
                return rule["record_type"]
        except re.error:
            log.warning("mail_subject_rules: bad pattern %r", rule.get("pattern"))
    return settings.mail_default_type


def _attach_all(
    db_session: Session,
    spec: RecordSpec,
    obj: Any,
    raw: bytes,
    parsed: ParsedMail,
    user,
    comment_id: int | None,
) -> list[str]:
    """Store the mail's files and the raw .eml; returns notes on files that could not be kept."""
    skipped = []
    for part in parsed.attachments:
        if not part.data:
            continue
        try:
            attachment_service.add(
                db_session=db_session,
                spec=spec,
                obj=obj,
                stream=io.BytesIO(part.data),
                filename=part.filename,
                actor=user,
                visibility=AttachmentVisibility.public,
                comment_id=comment_id,
                source=AttachmentSource.mail,
            )
        except AppError as exc:
            skipped.append(f"{part.filename}: {exc.message.removeprefix('file: ')}")
    try:
        attachment_service.add(
            db_session=db_session,
            spec=spec,
            obj=obj,
            stream=io.BytesIO(raw),
            filename="original-message.eml",
            actor=user,
            visibility=AttachmentVisibility.internal,
            source=AttachmentSource.raw_mail,
            max_file_bytes=get_settings().mail_max_message_bytes,
        )
    except AppError as exc:
        skipped.append(f"original-message.eml: {exc.message.removeprefix('file: ')}")
    return skipped


def _note(db_session: Session, spec: RecordSpec, obj: Any, action: str, text: str) -> None:
    """An internal entry in the ticket's audit trail (agents see it in the history, requesters never)."""
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=None,
        action=action,
        field="mail",
        new=text[:10_000],
        source=MAIL_SOURCE,
        internal=True,
    )


def _comment(db_session, raw, parsed, user, spec, obj, base) -> IntakeResult:
    text = replies.latest_reply(parsed.text) or NO_TEXT
    comment = comment_service.add(
        db_session=db_session,
        spec=spec,
        obj=obj,
        comment_in=CommentCreate(body=text[:100_000], visibility=Visibility.public),
        actor=user,
    )
    skipped = _attach_all(db_session, spec, obj, raw, parsed, user, comment.id)
    if skipped:
        _note(
            db_session, spec, obj, "attachment_refused", "Files of the mail not kept: " + "; ".join(skipped)
        )
    if obj.state == "resolved" and get_settings().mail_reopen_resolved:
        try:
            with db_session.begin_nested():
                record_service.update(
                    db_session=db_session,
                    spec=spec,
                    obj=obj,
                    data={"state": "in_progress", "version": obj.version},
                    actor=user,
                    source=MAIL_SOURCE,
                )
        except AppError:
            db_session.refresh(obj)  # this lifecycle does not reopen from resolved: the reply stays a comment
    mail_service.record(
        db_session=db_session,
        outcome=IntakeOutcome.comment,
        record_type=spec.record_type,
        record_id=obj.id,
        number=obj.number,
        comment_id=comment.id,
        **base,
    )
    return IntakeResult(IntakeOutcome.comment, parsed.message_id, None, obj.number, comment.id)


def _ticket(db_session, raw, parsed, user, recipients, base, *, follows) -> IntakeResult:
    record_type = _record_type(parsed, recipients)
    spec, schema = CREATE_SCHEMAS[record_type]
    text = parsed.text.strip() or NO_TEXT
    if follows is not None:
        old_spec, old = follows
        text = (
            f"Follow-up to {old.number} ({old.state}): the caller replied after it was closed.\n\n"
            + replies.latest_reply(parsed.text)
        ).strip()
    if len(text) > 100_000:
        text = text[:99_900] + "\n\n[... cut: the full text is in the attached original-message.eml]"
    subject = re.sub(r"\s+", " ", parsed.subject or "").strip() or "(no subject)"
    ticket_in = schema.model_validate(
        {"short_description": subject[:255], "description": text, "caller": user.username}
    )
    obj = record_service.create(
        db_session=db_session, spec=spec, data=ticket_in.model_dump(), actor=user, source=MAIL_SOURCE
    )
    skipped = _attach_all(db_session, spec, obj, raw, parsed, user, None)
    if skipped:
        _note(
            db_session, spec, obj, "attachment_refused", "Files of the mail not kept: " + "; ".join(skipped)
        )
    outcome = IntakeOutcome.ticket
    if follows is not None:
        outcome = IntakeOutcome.follow_up
        _note(db_session, spec, obj, "follow_up_of", old.number)
        _note(db_session, old_spec, old, "follow_up", obj.number)
    mail_service.record(
        db_session=db_session,
        outcome=outcome,
        record_type=spec.record_type,
        record_id=obj.id,
        number=obj.number,
        reason=f"follow-up to {follows[1].number}" if follows is not None else None,
        **base,
    )
    return IntakeResult(outcome, parsed.message_id, None, obj.number)
