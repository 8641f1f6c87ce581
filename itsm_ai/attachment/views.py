"""Attachment endpoints: upload and list on every ticket type and on articles, download and delete by id."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from itsm_ai.attachment import service
from itsm_ai.attachment.enums import AttachmentVisibility
from itsm_ai.attachment.models import AttachmentRead
from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.config import get_settings
from itsm_ai.database import DbSession
from itsm_ai.errors import InvalidInputError, PayloadTooLargeError
from itsm_ai.inputs import RowId

router = APIRouter(tags=["attachments"])

# API paths of the record types that take files (incidents, problems, changes, requests, articles).
RECORD_PATHS = ("incidents", "problems", "changes", "requests", "knowledge")
# Room for the multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
CHUNK = 256 * 1024

UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "visibility": {"type": "string", "enum": ["public", "internal"]},
                        "comment_id": {
                            "type": "integer",
                            "description": "The reply or work note it belongs to.",
                        },
                    },
                }
            }
        },
    }
}


@dataclass
class UploadForm:
    """The parsed multipart upload."""

    file: BinaryIO
    filename: str | None
    visibility: AttachmentVisibility | None
    comment_id: int | None


async def upload_form(request: Request) -> UploadForm:
    """Parse the multipart body, refusing a declared length over the file limit before reading it."""
    limit = get_settings().attachment_max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLargeError(
            f"file: larger than the per-file limit of {limit} bytes (ITSM_ATTACHMENT_MAX_FILE_BYTES={limit})",
            field="file",
            details={"limit": "attachment_max_file_bytes", "limit_bytes": limit},
        )
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInputError(
            "file: send the file as multipart/form-data in the field 'file'", field="file"
        )
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # noqa: BLE001 - any multipart parse failure is the client's bad body
        raise InvalidInputError(f"file: unreadable multipart body ({exc})", field="file") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInputError("file: required (a file in the multipart field 'file')", field="file")
    visibility = form.get("visibility") or None
    if visibility is not None and visibility not in {v.value for v in AttachmentVisibility}:
        raise InvalidInputError("visibility: must be public or internal", field="visibility")
    comment_id = form.get("comment_id") or None
    if comment_id is not None and not (isinstance(comment_id, str) and comment_id.isdigit()):
        raise InvalidInputError("comment_id: must be a comment id (a whole number)", field="comment_id")
    return UploadForm(
        file=upload.file,
        filename=upload.filename,
        visibility=AttachmentVisibility(visibility) if visibility else None,
        comment_id=int(comment_id) if comment_id else None,
    )


def _writable(path: str):
    """Dependency: the record the upload goes to, checked before the body is read (403/404 before 422)."""

    def load(ref: str, db_session: DbSession, user: CurrentUser) -> Any:
        spec = service.spec_for_path(path)
        return service.load_record(db_session=db_session, spec=spec, ref=ref, user=user, write=True)

    return load


def _add_record_routes(path: str) -> None:
    @router.post(
        f"/{path}/{{ref}}/attachments",
        status_code=status.HTTP_201_CREATED,
        response_model=AttachmentRead,
        summary=f"Attach a file to one of /{path} (multipart field 'file')",
        openapi_extra=UPLOAD_SCHEMA,
        name=f"upload_{path}_attachment",
    )
    def upload(
        ref: str,
        db_session: DbSession,
        user: CurrentUser,
        response: Response,
        # A default, not an annotation: annotations are strings here and cannot see this function's `path`.
        obj: Any = Depends(_writable(path)),
        form: UploadForm = Depends(upload_form),
    ):
        attachment = service.add(
            db_session=db_session,
            spec=service.spec_for_path(path),
            obj=obj,
            stream=form.file,
            filename=form.filename,
            actor=user,
            visibility=form.visibility,
            comment_id=form.comment_id,
        )
        response.headers["Location"] = f"/api/v1/attachments/{attachment.id}"
        return service.to_read(attachment, getattr(obj, "number", None))

    @router.get(
        f"/{path}/{{ref}}/attachments",
        response_model=list[AttachmentRead],
        summary=f"Files on one of /{path}",
        name=f"list_{path}_attachments",
    )
    def list_(ref: str, db_session: DbSession, user: CurrentUser):
        spec = service.spec_for_path(path)
        obj = service.load_record(db_session=db_session, spec=spec, ref=ref, user=user)
        rows = service.list_for(
            db_session=db_session,
            record_type=spec.record_type,
            record_id=obj.id,
            include_internal=service.sees_internal(user),
        )
        return [service.to_read(a, getattr(obj, "number", None)) for a in rows]


for _path in RECORD_PATHS:
    _add_record_routes(_path)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/attachments/{attachment_id}",
    summary="Download a file (always as an attachment, never rendered in the app's origin)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(attachment_id: RowId, db_session: DbSession, user: CurrentUser):
    attachment, _spec, _obj = service.readable(db_session=db_session, attachment_id=attachment_id, user=user)
    handle = service.open_bytes(attachment)
    headers = {
        "Content-Disposition": content_disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
        # Even if a browser were talked into rendering it, an uploaded page gets no script and no origin.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "Content-Length": str(attachment.size),
        "ETag": f'"{attachment.sha256}"',
    }
    return StreamingResponse(_chunks(handle), media_type=attachment.content_type, headers=headers)


@router.get(
    "/attachments/{attachment_id}/meta", response_model=AttachmentRead, summary="An attachment's metadata"
)
def metadata(attachment_id: RowId, db_session: DbSession, user: CurrentUser):
    attachment, _spec, obj = service.readable(db_session=db_session, attachment_id=attachment_id, user=user)
    return service.to_read(attachment, getattr(obj, "number", None))


@router.delete(
    "/attachments/{attachment_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a file"
)
def delete(attachment_id: RowId, db_session: DbSession, user: CurrentUser):
    attachment, spec, obj = service.readable(db_session=db_session, attachment_id=attachment_id, user=user)
    service.delete(db_session=db_session, attachment=attachment, spec=spec, obj=obj, actor=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
