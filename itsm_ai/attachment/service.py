"""Storing, listing, reading and deleting attachments, with the limits, the deny list and the record's access.

A file is written (complete, fsynced, renamed into place) before its row is inserted, so there is never a row
without a file. Files whose transaction rolls back are removed after the rollback; bytes of deleted rows after
the commit; anything left by a crash (a file without a row) is removed by `sweep_orphans`.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from itsm_ai.attachment import sniff
from itsm_ai.attachment.enums import ATTACHABLE_TYPES, AttachmentSource, AttachmentVisibility
from itsm_ai.attachment.models import Attachment, AttachmentRead
from itsm_ai.attachment.storage import LocalStorage, Storage, TooLarge
from itsm_ai.audit import service as audit_service
from itsm_ai.base import spec_registry
from itsm_ai.base.record_types import TICKET_TYPES
from itsm_ai.base.roles import STAFF, Role
from itsm_ai.comment.models import Comment, Visibility
from itsm_ai.config import get_settings
from itsm_ai.database import is_postgres
from itsm_ai.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnsupportedMediaTypeError,
)
from itsm_ai.records import service as record_service
from itsm_ai.records.spec import Action, RecordSpec

NEW_KEYS = "attachment.new_keys"
DELETED_KEYS = "attachment.deleted_keys"
COMMITTED = "attachment.committed"
API = "/api/v1"


@lru_cache(maxsize=4)
def _local_storage(root: str) -> LocalStorage:
    return LocalStorage(Path(root))


def storage() -> Storage:
    """The configured byte store (the attachment folder under the data folder by default)."""
    settings = get_settings()
    return _local_storage(str(settings.attachment_dir or settings.data_dir / "attachments"))


# -- keeping files and rows together -------------------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Fired on a savepoint's release too (a listener's begin_nested): only the outermost commit keeps files.
    if session.in_nested_transaction():
        return
    session.info[COMMITTED] = True
    session.info.pop(NEW_KEYS, None)
    for key in session.info.pop(DELETED_KEYS, []):
        storage().delete(key)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is not None or transaction.nested:
        return
    if session.info.pop(COMMITTED, False):
        return
    # The outermost transaction ended without a commit: the rows of files written in it are gone.
    session.info.pop(DELETED_KEYS, None)
    for key in session.info.pop(NEW_KEYS, []):
        storage().delete(key)


# -- records and access --------------------------------------------------------------------------------------


def spec_for(record_type: str) -> RecordSpec:
    """The spec of an attachable record type."""
    for spec in spec_registry.all_specs():
        if spec.record_type == record_type and record_type in ATTACHABLE_TYPES:
            return spec
    raise NotFoundError(f"record type {record_type} takes no attachments")


def spec_for_path(path: str) -> RecordSpec:
    """The spec of an attachable record type by its API path (incidents, requests, knowledge...)."""
    for spec in spec_registry.all_specs():
        if spec.path == path and spec.record_type in ATTACHABLE_TYPES:
            return spec
    raise NotFoundError(f"/{path} has no attachments")


def _write_action(spec: RecordSpec) -> str:
    # Tickets take files from whoever may reply on them; articles only from those who may edit them.
    return Action.comment if spec.record_type in TICKET_TYPES else Action.update


def load_record(*, db_session: Session, spec: RecordSpec, ref: str | int, user, write: bool = False) -> Any:
    """The record, after checking that the user may read it (or add files to it)."""
    action = _write_action(spec) if write else Action.read
    spec.access.check(user, action, noun=spec.noun)
    obj = record_service.get(db_session=db_session, spec=spec, ref=ref)
    spec.access.check(user, action, obj, noun=spec.noun)
    return obj


def sees_internal(user) -> bool:
    """Requesters never see work-note attachments (nor anything else internal)."""
    return user is not None and user.role != Role.requester


def get(*, db_session: Session, attachment_id: int) -> Attachment:
    """Attachment by id, or NotFoundError."""
    attachment = db_session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFoundError(f"attachment {attachment_id} not found")
    return attachment


def readable(*, db_session: Session, attachment_id: int, user) -> tuple[Attachment, RecordSpec, Any]:
    """The attachment with its record, when the user may read that record (and see this file), else 404."""
    attachment = get(db_session=db_session, attachment_id=attachment_id)
    spec = spec_for(attachment.record_type)
    try:
        obj = load_record(db_session=db_session, spec=spec, ref=attachment.record_id, user=user)
    except NotFoundError as exc:
        raise NotFoundError(f"attachment {attachment_id} not found") from exc
    if attachment.visibility == AttachmentVisibility.internal and not sees_internal(user):
        # Hidden exactly like the work note it belongs to: not even its existence shows.
        raise NotFoundError(f"attachment {attachment_id} not found")
    return attachment, spec, obj


# -- writing -------------------------------------------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def used_bytes(*, db_session: Session, record_type: str, record_id: int) -> int:
    """Total size of a record's attachments."""
    total = db_session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.record_type == record_type, Attachment.record_id == record_id
        )
    )
    return int(total or 0)


def _comment_visibility(db_session: Session, spec: RecordSpec, obj: Any, comment_id: int) -> str:
    comment = db_session.get(Comment, comment_id)
    if comment is None or comment.record_type != spec.record_type or comment.record_id != obj.id:
        raise InvalidInputError(
            f"comment_id: no comment {comment_id} on {spec.noun} {getattr(obj, 'number', obj.id)}",
            field="comment_id",
        )
    return (
        AttachmentVisibility.internal
        if comment.visibility == Visibility.internal
        else AttachmentVisibility.public
    )


def add(
    *,
    db_session: Session,
    spec: RecordSpec,
    obj: Any,
    stream: BinaryIO,
    filename: str | None,
    actor,
    visibility: AttachmentVisibility | str | None = None,
    comment_id: int | None = None,
    source: AttachmentSource = AttachmentSource.upload,
    max_file_bytes: int | None = None,
) -> Attachment:
    """Store a file on a record: limits (413 naming the limit), deny list (415), sniffed type, audit."""
    settings = get_settings()
    name = sniff.safe_filename(filename)
    wanted = AttachmentVisibility(visibility) if visibility else AttachmentVisibility.public
    if comment_id is not None:
        wanted = AttachmentVisibility(_comment_visibility(db_session, spec, obj, comment_id))
    uploaded = source == AttachmentSource.upload
    if wanted == AttachmentVisibility.internal and uploaded and not sees_internal(actor):
        raise PermissionDeniedError(
            "visibility: requesters cannot add internal attachments", field="visibility"
        )
    reason = sniff.refusal(
        filename=name,
        content_type="",
        denied_extensions=settings.attachment_denied_extensions,
        denied_types=[],
    )
    if reason:
        raise UnsupportedMediaTypeError(f"file: {reason}", field="file")
    if is_postgres(db_session):
        # Serialise uploads to one record, so two parallel ones cannot both pass the per-record limit.
        db_session.execute(select(spec.model.id).where(spec.model.id == obj.id).with_for_update())
    file_limit = max_file_bytes or settings.attachment_max_file_bytes
    record_limit = settings.attachment_max_record_bytes
    used = used_bytes(db_session=db_session, record_type=spec.record_type, record_id=obj.id)
    remaining = max(0, record_limit - used)
    store = storage()
    try:
        stored = store.put(stream, max_bytes=min(file_limit, remaining))
    except TooLarge as exc:
        if exc.limit < file_limit:
            raise _record_limit_error(spec, obj, record_limit, used) from exc
        raise _file_limit_error(file_limit, max_file_bytes is None) from exc
    keys = db_session.info.setdefault(NEW_KEYS, [])
    keys.append(stored.key)
    content_type = sniff.sniff(stored.head, name)
    reason = sniff.refusal(
        filename=name,
        content_type=content_type,
        denied_extensions=settings.attachment_denied_extensions,
        denied_types=settings.attachment_denied_types,
    )
    if reason:
        store.delete(stored.key)
        keys.remove(stored.key)
        raise UnsupportedMediaTypeError(f"file: {reason}", field="file")
    attachment = Attachment(
        record_type=spec.record_type,
        record_id=obj.id,
        comment_id=comment_id,
        filename=name,
        content_type=content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        visibility=wanted,
        source=source,
        uploaded_by_id=getattr(actor, "id", None),
    )
    db_session.add(attachment)
    db_session.flush()
    audit_service.record_event(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        actor=actor,
        action="attachment_added",
        field="attachments",
        new=f"{name} ({_mib(stored.size)}, {content_type})",
        source="mail" if source != AttachmentSource.upload else "api",
        internal=wanted == AttachmentVisibility.internal,
    )
    return attachment


def _file_limit_error(limit: int, configured: bool) -> PayloadTooLargeError:
    setting = "ITSM_ATTACHMENT_MAX_FILE_BYTES" if configured else "the mail size limit"
    return PayloadTooLargeError(
        f"file: larger than the per-file limit of {_mib(limit)} ({setting}={limit})",
        field="file",
        details={"limit": "attachment_max_file_bytes", "limit_bytes": limit},
    )


def _record_limit_error(spec: RecordSpec, obj: Any, limit: int, used: int) -> PayloadTooLargeError:
    number = getattr(obj, "number", obj.id)
    return PayloadTooLargeError(
        f"file: {spec.noun} {number} would exceed the per-record attachment limit of {_mib(limit)} "
        f"(ITSM_ATTACHMENT_MAX_RECORD_BYTES={limit}; {_mib(used)} already used)",
        field="file",
        details={"limit": "attachment_max_record_bytes", "limit_bytes": limit, "used_bytes": used},
    )


def delete(*, db_session: Session, attachment: Attachment, spec: RecordSpec, obj: Any, actor) -> None:
    """Delete an attachment (staff, or its uploader); audited; the bytes go when the deletion commits."""
    is_staff = actor.role in STAFF and actor.role in spec.access.roles_for(Action.update)
    if not is_staff and attachment.uploaded_by_id != actor.id:
        raise PermissionDeniedError("only staff or the person who uploaded it may delete an attachment")
    audit_service.record_event(
        db_session=db_session,
        record_type=attachment.record_type,
        record_id=attachment.record_id,
        actor=actor,
        action="attachment_deleted",
        field="attachments",
        old=f"{attachment.filename} ({_mib(attachment.size)}, sha256 {attachment.sha256[:12]})",
        internal=attachment.visibility == AttachmentVisibility.internal,
    )
    db_session.info.setdefault(DELETED_KEYS, []).append(attachment.storage_key)
    db_session.delete(attachment)
    db_session.flush()


# -- reading -------------------------------------------------------------------------------------------------


def list_for(
    *, db_session: Session, record_type: str, record_id: int, include_internal: bool
) -> list[Attachment]:
    """A record's attachments, oldest first; without internal ones for requesters."""
    stmt = (
        select(Attachment)
        .where(Attachment.record_type == record_type, Attachment.record_id == record_id)
        .order_by(Attachment.id)
    )
    if not include_internal:
        stmt = stmt.where(Attachment.visibility == AttachmentVisibility.public)
    return list(db_session.scalars(stmt))


def to_read(attachment: Attachment, number: str | None = None) -> AttachmentRead:
    """API view of an attachment."""
    return AttachmentRead(
        id=attachment.id,
        record_type=attachment.record_type,
        record_id=attachment.record_id,
        number=number,
        comment_id=attachment.comment_id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        visibility=AttachmentVisibility(attachment.visibility),
        source=AttachmentSource(attachment.source),
        uploaded_by=attachment.uploaded_by.username if attachment.uploaded_by else None,
        created_at=attachment.created_at,
        url=f"{API}/attachments/{attachment.id}",
    )


def open_bytes(attachment: Attachment) -> BinaryIO:
    """The stored bytes (NotFoundError when the file went missing from the store)."""
    try:
        return storage().open(attachment.storage_key)
    except FileNotFoundError as exc:
        raise NotFoundError(f"attachment {attachment.id}: the stored file is missing") from exc


# -- the orphan sweep ----------------------------------------------------------------------------------------


def sweep_orphans(*, db_session: Session, grace_seconds: float | None = None) -> dict[str, int]:
    """Remove stored files without a row (and unfinished writes) older than the grace period."""
    grace = get_settings().attachment_orphan_grace_minutes * 60 if grace_seconds is None else grace_seconds
    store = storage()
    now = time.time()
    old = [o for o in store.objects() if now - o.modified_at >= grace]
    removed = {"files": 0, "partial": 0, "kept": 0}
    complete = [o.key for o in old if not o.partial]
    known: set[str] = set()
    for start in range(0, len(complete), 500):
        batch = complete[start : start + 500]
        known.update(
            db_session.scalars(select(Attachment.storage_key).where(Attachment.storage_key.in_(batch)))
        )
    for obj in old:
        if obj.partial:
            store.delete(obj.key)
            removed["partial"] += 1
        elif obj.key not in known:
            store.delete(obj.key)
            removed["files"] += 1
        else:
            removed["kept"] += 1
    return removed
