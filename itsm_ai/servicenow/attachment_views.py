"""ServiceNow's Attachment API under /api/now/attachment: list, read, download, upload and delete the files on
a record, with the native attachment rules (who may read internal files, size and type limits)."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from itsm_ai.attachment import service as attachment_service
from itsm_ai.attachment.views import content_disposition
from itsm_ai.database import DbSession
from itsm_ai.errors import NotFoundError
from itsm_ai.servicenow import attachments, service
from itsm_ai.servicenow.dependencies import SnUser
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.params import int_param

router = APIRouter(tags=["servicenow"])



def _attached_to(db_session, user, table_sys_id: str, write: bool):
    found = service.ticket_by_sys_id(db_session=db_session, sys_id=table_sys_id)
    if found is None:
        raise NotFoundError(f"no record with sys_id {table_sys_id}")
    spec, obj = found
    try:
        attachment_spec = attachment_service.spec_for(spec.record_type)
    except NotFoundError:
        raise SnBadRequest(
            f"table_sys_id: {spec.noun} records take no attachments", field="table_sys_id"
        ) from None
    obj = attachment_service.load_record(
        db_session=db_session, spec=attachment_spec, ref=obj.id, user=user, write=write
    )
    return attachment_spec, obj


def list_attachments(request: Request, db_session: DbSession, user: SnUser, response: Response):
    """GET /api/now/attachment?sysparm_query=table_sys_id=...: the files on one record."""
    _table, file_name, table_sys_id = attachments.attachment_target(
        db_session=db_session, query_text=request.query_params.get("sysparm_query")
    )
    spec, obj = _attached_to(db_session, user, table_sys_id, write=False)
    rows = attachment_service.list_for(
        db_session=db_session,
        record_type=spec.record_type,
        record_id=obj.id,
        include_internal=attachment_service.sees_internal(user),
    )
    rows = [a for a in rows if file_name is None or a.filename == file_name]
    limit = int_param(request, "sysparm_limit", service.DEFAULT_LIMIT, 1, service.MAX_LIMIT)
    offset = int_param(request, "sysparm_offset", 0, 0, 2**31 - 1)
    response.headers["X-Total-Count"] = str(len(rows))
    base = str(request.base_url).rstrip("/")
    return {"result": [attachments.attachment_json(a, base) for a in rows[offset : offset + limit]]}


def read_attachment(sys_id: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/attachment/{sys_id}: an attachment's metadata."""
    attachment, _spec, _obj = attachment_service.readable(
        db_session=db_session, attachment_id=attachments.attachment_id(sys_id), user=user
    )
    return {"result": attachments.attachment_json(attachment, str(request.base_url).rstrip("/"))}


def download_attachment(sys_id: str, db_session: DbSession, user: SnUser):
    """GET /api/now/attachment/{sys_id}/file: the bytes."""
    attachment, _spec, _obj = attachment_service.readable(
        db_session=db_session, attachment_id=attachments.attachment_id(sys_id), user=user
    )
    handle = attachment_service.open_bytes(attachment)
    try:
        content = handle.read()
    finally:
        handle.close()
    headers = {"Content-Disposition": content_disposition(attachment.filename)}
    return Response(content=content, media_type=attachment.content_type, headers=headers)


async def _upload_stream(request: Request):
    """The raw request body spooled to a temporary file (large uploads stay off the heap)."""
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)
    async for chunk in request.stream():
        spool.write(chunk)
    spool.seek(0)
    try:
        yield spool
    finally:
        spool.close()


def upload_attachment(
    request: Request,
    db_session: DbSession,
    user: SnUser,
    stream: Annotated[Any, Depends(_upload_stream)],
):
    """POST /api/now/attachment/file?file_name=&table_name=&table_sys_id=: the body is the file."""
    params = request.query_params
    for name in ("file_name", "table_name", "table_sys_id"):
        if not params.get(name):
            raise SnBadRequest(f"{name}: required query parameter", field=name)
    spec, obj = _attached_to(db_session, user, params["table_sys_id"], write=True)
    attachment = attachment_service.add(
        db_session=db_session, spec=spec, obj=obj, stream=stream, filename=params["file_name"], actor=user
    )
    result = attachments.attachment_json(attachment, str(request.base_url).rstrip("/"))
    headers = {"Location": f"{str(request.base_url).rstrip('/')}/api/now/attachment/{result['sys_id']}"}
    return JSONResponse(status_code=status.HTTP_201_CREATED, content={"result": result}, headers=headers)


def delete_attachment(sys_id: str, db_session: DbSession, user: SnUser):
    """DELETE /api/now/attachment/{sys_id}: 204."""
    attachment, spec, obj = attachment_service.readable(
        db_session=db_session, attachment_id=attachments.attachment_id(sys_id), user=user
    )
    attachment_service.delete(db_session=db_session, attachment=attachment, spec=spec, obj=obj, actor=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


for _prefix in ("/api/now/attachment", "/api/now/v1/attachment"):
    router.add_api_route(_prefix, list_attachments, methods=["GET"], summary="List attachments of a record")
    router.add_api_route(f"{_prefix}/file", upload_attachment, methods=["POST"], summary="Upload a file")
    router.add_api_route(f"{_prefix}/{{sys_id}}", read_attachment, methods=["GET"], summary="Attachment")
    router.add_api_route(
        f"{_prefix}/{{sys_id}}/file", download_attachment, methods=["GET"], summary="Download a file"
    )
    router.add_api_route(
        f"{_prefix}/{{sys_id}}", delete_attachment, methods=["DELETE"], status_code=204, summary="Delete"
    )
