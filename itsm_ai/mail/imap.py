"""`itsm-ai mail poll`: take in the messages of an IMAP mailbox (imap-tools), then move them out of the way.

Taken-in messages move to `mail_imap_done_folder`, refused ones to `mail_imap_dead_folder` (and the dead-
letter folder on disk, with the reason). A message is moved only after intake committed, so a poller killed
midway finds it again next time and recognises it by its Message-ID.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from itsm_ai.config import get_settings
from itsm_ai.mail.enums import IntakeOutcome, MailSource
from itsm_ai.mail.flows import TransientError, dead_letter, header_message_id, take_in

log = logging.getLogger(__name__)


class ImapNotConfigured(Exception):
    """ITSM_MAIL_IMAP_HOST (and the login) is not set."""


def _mailbox_classes():
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
    from imap_tools.message import MailMessage

    class RawMessage(MailMessage):
        """A fetched message that keeps its exact bytes (re-serialising the parsed one would alter them)."""

        def __init__(self, fetch_data: list) -> None:
            super().__init__(fetch_data)
            self.raw: bytes = self._get_message_data_parts(fetch_data)[0]

    classes = {}
    for name, base in (("ssl", MailBox), ("starttls", MailBoxStartTls), ("plain", MailBoxUnencrypted)):
        classes[name] = type(f"Raw{base.__name__}", (base,), {"email_message_class": RawMessage})
    return classes


@contextmanager
def mailbox():
    """A logged-in mailbox on the configured folder."""
    settings = get_settings()
    if not settings.mail_imap_host or not settings.mail_imap_user:
        raise ImapNotConfigured("set ITSM_MAIL_IMAP_HOST, ITSM_MAIL_IMAP_USER and ITSM_MAIL_IMAP_PASSWORD")
    classes = _mailbox_classes()
    kind = "ssl" if settings.mail_imap_ssl else "starttls" if settings.mail_imap_starttls else "plain"
    box = classes[kind](
        settings.mail_imap_host, port=settings.mail_imap_port, timeout=settings.mail_imap_timeout_seconds
    )
    box.login(
        settings.mail_imap_user, settings.mail_imap_password or "", initial_folder=settings.mail_imap_folder
    )
    try:
        for folder in (settings.mail_imap_done_folder, settings.mail_imap_dead_folder):
            if not box.folder.exists(folder):
                box.folder.create(folder)
        yield box
    finally:
        try:
            box.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass


def poll_once(*, limit: int | None = None) -> dict[str, int]:
    """Take in up to `limit` (default: the batch setting) messages of the mailbox; returns outcome counts."""
    settings = get_settings()
    batch = limit or settings.mail_imap_batch
    counts: dict[str, int] = {}
    with mailbox() as box:
        heads = list(box.fetch("ALL", mark_seen=False, headers_only=True, limit=batch, bulk=True))
        too_big = [m for m in heads if (m.size_rfc822 or 0) > settings.mail_max_message_bytes]
        for message in too_big:
            reason = (
                f"message of {message.size_rfc822} bytes is over ITSM_MAIL_MAX_MESSAGE_BYTES (headers kept)"
            )
            message_id = header_message_id(message.raw)
            dead_letter(
                message.raw, reason=reason, code="too_large", source=MailSource.imap, message_id=message_id
            )
            box.move(message.uid, settings.mail_imap_dead_folder)
            counts[IntakeOutcome.dead_letter] = counts.get(IntakeOutcome.dead_letter, 0) + 1
        wanted = [m.uid for m in heads if m not in too_big and m.uid]
        if not wanted:
            return counts
        # Small batches: each message may be up to the size limit, and all of a batch is held in memory.
        for message in box.fetch(uid_list=wanted, mark_seen=False, bulk=5):
            try:
                result = take_in(message.raw, source=MailSource.imap)
            except TransientError as exc:
                log.warning("intake paused: %s", exc)
                break
            folder = (
                settings.mail_imap_dead_folder
                if result.outcome == IntakeOutcome.dead_letter
                else settings.mail_imap_done_folder
            )
            box.move(message.uid, folder)
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def poll_job() -> dict[str, int] | dict[str, str]:
    """Worker job: poll the mailbox when IMAP is configured."""
    try:
        return poll_once()
    except ImapNotConfigured:
        return {"skipped": "IMAP polling not configured"}
