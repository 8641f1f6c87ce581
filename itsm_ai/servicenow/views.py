"""ServiceNow-compatible REST endpoints: OAuth token, Table API, Batch API and Aggregate API under /api/now
(the Attachment API is in attachment_views; errors take ServiceNow's shape through responses)."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.responses import JSONResponse

from itsm_ai.auth import service as auth_service
from itsm_ai.auth import tokens as auth_tokens
from itsm_ai.auth.dependencies import client_address
from itsm_ai.database import DbSession
from itsm_ai.errors import AuthenticationError, NotFoundError
from itsm_ai.records.spec import Action
from itsm_ai.servicenow import aggregate, record_json, service, tables
from itsm_ai.servicenow.dependencies import SnUser
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.params import (
    csv_param,
    fields_of,
    flag,
    int_param,
    json_body,
    link_header,
    plain_params,
    record_shape,
)
from itsm_ai.servicenow.record_json import Shape

router = APIRouter(tags=["servicenow"])


# ------------------------------------------------------------------------------------------- auth


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
            user = auth_tokens.user_for_token(
                db_session=db_session, token=refresh_token, kind=auth_tokens.REFRESH
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
    token, lifetime = auth_tokens.create_access_token(user)
    refresh, _ = auth_tokens.create_refresh_token(user)
    return {
        "access_token": token,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": "useraccount",
    }


# ------------------------------------------------------------------------------------------- Table API


def list_table(table: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/table/{table}: records matching sysparm_query and plain field=value parameters."""
    b = tables.binding(table)
    shape = record_shape(request)
    fields = fields_of(request, b.table.name)
    limit = int_param(request, "sysparm_limit", service.DEFAULT_LIMIT, 1, service.MAX_LIMIT)
    offset = int_param(request, "sysparm_offset", 0, 0, 2**31 - 1)
    ids, total = service.list_records(
        db_session=db_session,
        b=b,
        user=user,
        query_text=request.query_params.get("sysparm_query"),
        params=plain_params(request),
        limit=limit,
        offset=offset,
    )
    headers = {"X-Total-Count": str(total)}
    if not flag(request.query_params.get("sysparm_suppress_pagination_header")):
        headers["Link"] = link_header(request, limit, offset, total or 0)
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
    shape = record_shape(request)
    fields = fields_of(request, b.table.name)
    record_id = service.visible_id(db_session=db_session, b=b, user=user, sys_id=sys_id)
    return JSONResponse(content={"result": _one(db_session, b, record_id, shape, fields)})


JsonBody = Annotated[Any, Depends(json_body)]


def create_record(table: str, request: Request, body: JsonBody, user: SnUser, db_session: DbSession):
    """POST /api/now/table/{table}: 201 with the new record."""
    b = tables.binding(table)
    shape = record_shape(request)
    fields = fields_of(request, b.table.name)
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
    shape = record_shape(request)
    fields = fields_of(request, b.table.name)
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
    body = await json_body(request)
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


def stats(table: str, request: Request, db_session: DbSession, user: SnUser):
    """GET /api/now/stats/{table}: count, avg/min/max/sum and group-by, computed by the database."""
    b = tables.binding(table)
    result = aggregate.aggregate(
        db_session=db_session,
        b=b,
        user=user,
        query_text=request.query_params.get("sysparm_query"),
        params=plain_params(request),
        count=flag(request.query_params.get("sysparm_count")),
        fields={agg: csv_param(request, f"sysparm_{agg}_fields") for agg in aggregate.AGGREGATES},
        group_by=csv_param(request, "sysparm_group_by"),
        having=request.query_params.get("sysparm_having") or None,
        order_by=csv_param(request, "sysparm_order_by"),
        display=record_shape(request).display,
    )
    return {"result": result}


for _prefix in ("/api/now/stats", "/api/now/v1/stats"):
    router.add_api_route(f"{_prefix}/{{table}}", stats, methods=["GET"], summary="Aggregate API")


