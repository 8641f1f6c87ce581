"""ServiceNow-compatible REST endpoints: Table API, Batch API and OAuth token under /api/now, with
ServiceNow's error shape {"error": {"message", "detail"}, "status": "failure"} and basic or bearer
authentication."""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from itsm_ai.attachment import service as attachment_service
from itsm_ai.attachment.views import content_disposition
from itsm_ai.auth import service as auth_service
from itsm_ai.auth.dependencies import authorised_user, client_address
from itsm_ai.auth.models import User
from itsm_ai.config import get_settings
from itsm_ai.database import DbSession
from itsm_ai.errors import (
    AppError,
    AuthenticationError,
    NotFoundError,
    TooManyRequestsError,
    is_transient_database_error,
)
from itsm_ai.records.spec import Action
from itsm_ai.servicenow import aggregate, attachments, codes, record_json, service, tables
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.record_json import Shape

_MESSAGES = {
    400: "Bad Request",
    401: "User Not Authenticated",
    403: "Operation Failed",
    404: "No Record found",
    405: "Method not Supported",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def sn_error(status_code: int, detail: str, message: str | None = None, headers=None) -> JSONResponse:
    """An error in ServiceNow's shape."""
    body = {"error": {"message": message or _MESSAGES.get(status_code, "Error"), "detail": detail}}
    body["status"] = "failure"
    return JSONResponse(status_code=status_code, content=body, headers=headers)


def as_sn_error(exc: Exception) -> JSONResponse | None:
    """The ServiceNow-shaped answer to an error raised on a ServiceNow path (None: not one we map)."""
    if isinstance(exc, AppError):
        # ServiceNow answers bad input with 400, never 422.
        code = 400 if exc.status_code == 422 else exc.status_code
        headers = {"WWW-Authenticate": 'Basic realm="Service-now"'} if code == 401 else None
        if isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": str(exc.retry_after)}
        message = exc.message if code == 400 else None
        if code == 404:
            message = "No Record found"
        return sn_error(code, exc.message, message, headers)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path", "header")]
        detail = f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}"
        return sn_error(400, detail, detail)
    if isinstance(exc, StarletteHTTPException):
        return sn_error(exc.status_code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, StaleDataError):
        return sn_error(409, "the record was changed by someone else at the same time; retry")
    if isinstance(exc, IntegrityError):
        return sn_error(409, "the change conflicts with stored data (a uniqueness or reference rule)")
    if isinstance(exc, SATimeoutError) or (
        isinstance(exc, OperationalError) and is_transient_database_error(exc)
    ):
        # The native API's answer to a busy database (503 + Retry-After), in ServiceNow's shape: nothing was
        # saved and the same request may be sent again.
        seconds = get_settings().api_retry_after_seconds
        detail = f"the database is busy; nothing was saved, retry in {seconds} s"
        return sn_error(503, detail, headers={"Retry-After": str(seconds)})
    return None


SERVICENOW_PATHS = ("/api/now/", "/oauth_token.do")


def is_servicenow_path(path: str) -> bool:
    """True for the paths whose errors take ServiceNow's shape."""
    return path.startswith(SERVICENOW_PATHS)


router = APIRouter(tags=["servicenow"])


# ------------------------------------------------------------------------------------------- auth


def _sn_user(request: Request, db_session: DbSession) -> User:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() not in ("basic", "bearer"):
        raise AuthenticationError("User is not authenticated: send basic auth or a bearer token")
    return authorised_user(
        db_session, scheme=scheme, credentials=credentials, address=client_address(request)
    )


SnUser = Annotated[User, Depends(_sn_user)]


def _oauth_error(status_code: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"error": error, "error_description": description})


@router.post("/oauth_token.do", summary="OAuth 2 token (password and refresh_token grants), as ServiceNow's")
def oauth_token(
    request: Request,
    db_session: DbSession,
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
):
    """A bearer token for a password or a refresh token; each answer carries a new refresh token too."""
    if grant_type not in ("password", "refresh_token"):
        return _oauth_error(400, "unsupported_grant_type", f"grant_type: {grant_type!r} is not supported")
    try:
        if grant_type == "refresh_token":
            if not refresh_token:
                return _oauth_error(400, "invalid_request", "refresh_token: required for this grant_type")
            # Revoked with the user's access tokens (logout, password change): the token version is the same.
            user = auth_service.user_for_token(
                db_session=db_session, token=refresh_token, kind=auth_service.REFRESH
            )
        else:
            user = auth_service.authenticate(
                db_session=db_session,
                username=username or "",
                password=password or "",
                address=client_address(request),
            )
    except AuthenticationError:
        return _oauth_error(401, "access_denied", "access_denied")
    token, lifetime = auth_service.create_access_token(user)
    refresh, _ = auth_service.create_refresh_token(user)
    return {
        "access_token": token,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": "useraccount",
    }


# ------------------------------------------------------------------------------------------- Table API


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _shape(request: Request) -> Shape:
    params = request.query_params
    display = (params.get("sysparm_display_value") or "false").strip().lower()
    if display not in ("true", "false", "all"):
        raise SnBadRequest("sysparm_display_value: must be true, false or all", field="sysparm_display_value")
    base = str(request.base_url).rstrip("/")
    return Shape(display, _flag(params.get("sysparm_exclude_reference_link")), base)


def _fields(request: Request, table: str) -> list[str] | None:
    """sysparm_fields, else the fields of sysparm_view (None: every field)."""
    raw = request.query_params.get("sysparm_fields")
    if raw:
        return [f.strip() for f in raw.split(",") if f.strip()]
    view = (request.query_params.get("sysparm_view") or "").strip().lower()
    try:
        fields = codes.view_fields(table, view)
    except KeyError:
        names = ", ".join(sorted(v for v in codes.VIEWS if v))
        raise SnBadRequest(
            f"sysparm_view: {view!r} is not a view; use {names}", field="sysparm_view"
        ) from None
    return list(fields) if fields is not None else None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SnBadRequest(f"{name}: {raw!r} is not a whole number", field=name) from None
    if value < low:
        raise SnBadRequest(f"{name}: must be at least {low}", field=name)
    return min(value, high)


async def _body(request: Request) -> Any:
    """The JSON body (read in a dependency, so the endpoints stay sync and run off the event loop)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SnBadRequest("the request body is not valid JSON", field="body") from None


def _link_header(request: Request, limit: int, offset: int, total: int) -> str:
    def url(at: int) -> str:
        params = dict(request.query_params)
        params["sysparm_offset"] = str(at)
        params["sysparm_limit"] = str(limit)
        return f"{str(request.url).split('?')[0]}?{urlencode(params)}"

    last = max(0, ((total - 1) // limit) * limit) if total else 0
    links = [f'<{url(0)}>;rel="first"']
    if offset > 0:
        links.append(f'<{url(max(0, offset - limit))}>;rel="prev"')
    if offset + limit < total:
        links.append(f'<{url(offset + limit)}>;rel="next"')
    links.append(f'<{url(last)}>;rel="last"')
    return ",".join(links)


def _plain_params(request: Request) -> dict[str, str]:
    # Any query parameter that is not a sysparm_ is a field=value condition, as in ServiceNow.
    return {k: v for k, v in request.query_params.items() if not k.startswith("sysparm_")}


def list_table(table: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/table/{table}: records matching sysparm_query and plain field=value parameters."""
    b = tables.binding(table)
    shape = _shape(request)
    fields = _fields(request, b.table.name)
    limit = _int_param(request, "sysparm_limit", service.DEFAULT_LIMIT, 1, service.MAX_LIMIT)
    offset = _int_param(request, "sysparm_offset", 0, 0, 2**31 - 1)
    ids, total = service.list_records(
        db_session=db_session,
        b=b,
        user=user,
        query_text=request.query_params.get("sysparm_query"),
        params=_plain_params(request),
        limit=limit,
        offset=offset,
    )
    headers = {"X-Total-Count": str(total)}
    if not _flag(request.query_params.get("sysparm_suppress_pagination_header")):
        headers["Link"] = _link_header(request, limit, offset, total or 0)
    result = record_json.records(db_session=db_session, b=b, ids=ids, shape=shape, fields=fields)
    # The body is strings in dicts already: straight to JSON, without FastAPI's generic encoder walking it.
    return JSONResponse(content={"result": result}, headers=headers)


def _one(db_session, b, record_id: int, shape: Shape, fields: list[str] | None) -> dict[str, Any]:
    found = record_json.records(db_session=db_session, b=b, ids=[record_id], shape=shape, fields=fields)
    if not found:
        raise NotFoundError(f"No Record found: {b.table.name} record {record_id} was deleted meanwhile")
    return found[0]


def read_record(table: str, sys_id: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/table/{table}/{sys_id}."""
    b = tables.binding(table)
    shape = _shape(request)
    fields = _fields(request, b.table.name)
    record_id = service.visible_id(db_session=db_session, b=b, user=user, sys_id=sys_id)
    return JSONResponse(content={"result": _one(db_session, b, record_id, shape, fields)})


JsonBody = Annotated[Any, Depends(_body)]


def create_record(table: str, request: Request, body: JsonBody, user: SnUser, db_session: DbSession):
    """POST /api/now/table/{table}: 201 with the new record."""
    b = tables.binding(table)
    shape = _shape(request)
    fields = _fields(request, b.table.name)
    obj = service.create(db_session=db_session, b=b, user=user, body=body)
    db_session.flush()
    result = _one(db_session, b, obj.id, shape, fields)
    sys_id = result.get("sys_id")
    sys_id = sys_id.get("value") if isinstance(sys_id, dict) else sys_id
    headers = {"Location": shape.link(b.table.name, str(sys_id))}
    return JSONResponse(status_code=status.HTTP_201_CREATED, content={"result": result}, headers=headers)


def update_record(
    table: str, sys_id: str, request: Request, body: JsonBody, user: SnUser, db_session: DbSession
):
    """PUT/PATCH /api/now/table/{table}/{sys_id}: 200 with the record."""
    b = tables.binding(table)
    shape = _shape(request)
    fields = _fields(request, b.table.name)
    obj = service.get_record(db_session=db_session, b=b, user=user, sys_id=sys_id, action=Action.update)
    obj = service.update(db_session=db_session, b=b, user=user, obj=obj, body=body)
    db_session.flush()
    return JSONResponse(content={"result": _one(db_session, b, obj.id, shape, fields)})


def delete_record(table: str, sys_id: str, db_session: DbSession, user: SnUser):
    """DELETE /api/now/table/{table}/{sys_id}: 204."""
    b = tables.binding(table)
    obj = service.get_record(db_session=db_session, b=b, user=user, sys_id=sys_id, action=Action.delete)
    service.delete(db_session=db_session, b=b, user=user, obj=obj)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


for _prefix in ("/api/now/table", "/api/now/v1/table"):
    router.add_api_route(f"{_prefix}/{{table}}", list_table, methods=["GET"], summary="List records")
    router.add_api_route(f"{_prefix}/{{table}}", create_record, methods=["POST"], summary="Insert a record")
    router.add_api_route(f"{_prefix}/{{table}}/{{sys_id}}", read_record, methods=["GET"], summary="Read")
    # One route per method: a route with two methods gives both operations one OpenAPI operationId.
    for _method in ("PUT", "PATCH"):
        router.add_api_route(
            f"{_prefix}/{{table}}/{{sys_id}}", update_record, methods=[_method], summary=f"Update ({_method})"
        )
    router.add_api_route(
        f"{_prefix}/{{table}}/{{sys_id}}",
        delete_record,
        methods=["DELETE"],
        status_code=204,
        summary="Delete a record",
    )


# ------------------------------------------------------------------------------------------- Batch API

MAX_BATCH = 1000


async def _json_object(request: Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise SnBadRequest("the request body must be a JSON object", field="body")
    return body


def _batch_requests(body: dict[str, Any]) -> list[dict[str, Any]]:
    requests = body.get("rest_requests")
    if not isinstance(requests, list):
        raise SnBadRequest("rest_requests: a list of requests is required", field="rest_requests")
    if len(requests) > MAX_BATCH:
        raise SnBadRequest(f"rest_requests: at most {MAX_BATCH} requests per batch", field="rest_requests")
    for index, item in enumerate(requests):
        where = f"rest_requests[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise SnBadRequest(f"{where}: each request needs an id, a method and a url", field=where)
        if str(item.get("method", "GET")).upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise SnBadRequest(f"{where}.method: not a supported method", field=f"{where}.method")
        if not item["url"].startswith("/api/now/") or item["url"].startswith("/api/now/v1/batch"):
            raise SnBadRequest(f"{where}.url: only /api/now/ REST APIs can be batched", field=f"{where}.url")
        if not isinstance(item.get("headers", []), list):
            raise SnBadRequest(f"{where}.headers: a list of {{name, value}}", field=f"{where}.headers")
    return requests


@router.post("/api/now/v1/batch", summary="Batch API: several REST requests in one (pysnc's *_multiple)")
@router.post("/api/now/batch", include_in_schema=False)
async def batch(request: Request, body: Annotated[dict[str, Any], Depends(_json_object)], user: SnUser):
    """Run each request through the app in turn (each its own transaction) with the caller's credentials."""
    import httpx

    requests = _batch_requests(body)
    serviced = []
    transport = httpx.ASGITransport(app=request.app)
    auth = request.headers.get("Authorization", "")
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url).rstrip("/")) as client:
        for item in requests:
            headers = {h["name"]: h["value"] for h in item.get("headers", []) if isinstance(h, dict)}
            dropped = ("authorization", "content-length")
            headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
            headers["Authorization"] = auth
            try:
                content = base64.b64decode(item.get("body") or "", validate=True)
            except (binascii.Error, ValueError):
                raise SnBadRequest(f"request {item.get('id')}: body is not base64", field="body") from None
            started = time.monotonic()
            response = await client.request(
                str(item.get("method", "GET")).upper(), item["url"], headers=headers, content=content
            )
            serviced.append(
                {
                    "id": str(item.get("id", "")),
                    "status_code": response.status_code,
                    "status_text": response.reason_phrase,
                    "headers": [{"name": k, "value": v} for k, v in response.headers.items()],
                    "body": base64.b64encode(response.content).decode(),
                    "execution_time": int((time.monotonic() - started) * 1000),
                }
            )
    return {
        "batch_request_id": str(body.get("batch_request_id", "")),
        "serviced_requests": serviced,
        "unserviced_requests": [],
    }


# ------------------------------------------------------------------------------------------- Aggregate API


def _csv(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name) or ""
    return [f.strip() for f in raw.split(",") if f.strip()]


def stats(table: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/stats/{table}: count, avg/min/max/sum and group-by, computed by the database."""
    b = tables.binding(table)
    result = aggregate.aggregate(
        db_session=db_session,
        b=b,
        user=user,
        query_text=request.query_params.get("sysparm_query"),
        params=_plain_params(request),
        count=_flag(request.query_params.get("sysparm_count")),
        fields={agg: _csv(request, f"sysparm_{agg}_fields") for agg in aggregate.AGGREGATES},
        group_by=_csv(request, "sysparm_group_by"),
        having=request.query_params.get("sysparm_having") or None,
        order_by=_csv(request, "sysparm_order_by"),
        display=_shape(request).display,
    )
    return {"result": result}


for _prefix in ("/api/now/stats", "/api/now/v1/stats"):
    router.add_api_route(f"{_prefix}/{{table}}", stats, methods=["GET"], summary="Aggregate API")


# ------------------------------------------------------------------------------------------- Attachment API


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
    limit = _int_param(request, "sysparm_limit", service.DEFAULT_LIMIT, 1, service.MAX_LIMIT)
    offset = _int_param(request, "sysparm_offset", 0, 0, 2**31 - 1)
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
