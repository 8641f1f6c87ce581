"""The HTTP error answers: one body shape (ErrorBody) and the exception handlers that produce it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from itsm_ai.config import get_settings
from itsm_ai.errors import AppError, TooManyRequestsError, error_body, is_transient_database_error


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or (str(loc[-1]) if loc else "request")


_NAMED = re.compile(r"^(?:Value error, )?([a-z_][a-z0-9_.]*): ")


def _field_entry(error: dict[str, Any]) -> dict[str, str]:
    field, message = _field_name(tuple(error.get("loc", ()))), error.get("msg", "invalid")
    named = _NAMED.match(message)
    if named and field in ("body", "request", "query"):
        # Model-level validators name the field they are about as "field: message".
        field, message = named.group(1), message[named.end() :]
    return {"field": field, "message": message}


def validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each invalid field."""
    fields = [_field_entry(e) for e in exc.errors()]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
    return JSONResponse(status_code=422, content=error_body(422, "validation_error", message, fields))


def app_error_handler(_request: Request, exc: AppError) -> JSONResponse:
    """The application's own errors in their status (401 with WWW-Authenticate, 429 with Retry-After)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if isinstance(exc, TooManyRequestsError):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(status_code=exc.status_code, content=exc.body(), headers=headers)


def http_error_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's HTTP errors (404 for an unknown path, 405, ...) in the ErrorBody shape."""
    codes = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
    }
    code = codes.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return JSONResponse(
        status_code=exc.status_code, content=error_body(exc.status_code, code, message), headers=exc.headers
    )


_UNIQUE_FIELD = (re.compile(r"UNIQUE constraint failed: \w+\.(\w+)"), re.compile(r"Key \((\w+)\)="))


def integrity_handler(_request: Request, exc: IntegrityError) -> JSONResponse:
    """409 for a uniqueness or reference conflict, naming the field when the database does."""
    text = str(exc.orig)
    field = next((m.group(1) for rx in _UNIQUE_FIELD if (m := rx.search(text))), None)
    if field is None:
        message = "the change conflicts with stored data (a reference or uniqueness rule); nothing was saved"
        return JSONResponse(status_code=409, content=error_body(409, "conflict", message))
    message = f"{field}: another record already has this value; nothing was saved"
    return JSONResponse(
        status_code=409, content=error_body(409, "conflict", message, [{"field": field, "message": message}])
    )


def stale_handler(_request: Request, exc: StaleDataError) -> JSONResponse:
    """409 on the version field when an optimistic-lock update found the row changed."""
    message = "the record was changed by someone else at the same time; reload and retry"
    return JSONResponse(
        status_code=409,
        content=error_body(409, "conflict", message, [{"field": "version", "message": message}]),
    )


def _unavailable(message: str) -> JSONResponse:
    seconds = get_settings().api_retry_after_seconds
    return JSONResponse(
        status_code=503,
        content=error_body(503, "unavailable", f"{message}; nothing was saved, retry in {seconds} s"),
        headers={"Retry-After": str(seconds)},
    )


def pool_timeout_handler(_request: Request, _exc: SATimeoutError) -> JSONResponse:
    """503 + Retry-After when no pooled connection came free in time."""
    return _unavailable("the service is busy (no database connection free)")


def operational_handler(_request: Request, exc: OperationalError) -> JSONResponse:
    """503 + Retry-After for a transient database condition; anything else stays a 500."""
    if is_transient_database_error(exc):
        return _unavailable("the database is busy")
    raise exc


class ErrorField(BaseModel):
    """One field an error is about."""

    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: the HTTP status, a stable code, a message and the fields concerned."""

    model_config = ConfigDict(extra="allow")

    status: int
    code: str
    message: str
    fields: list[ErrorField]


class ErrorBody(BaseModel):
    """The one error body shape of every endpoint."""

    error: ErrorDetail


# Answers any operation may give besides its own (every one uses the ErrorBody shape, 422 included).
ERROR_RESPONSES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed for this user",
    404: "Not found",
    409: "Conflict with stored data (a stale version, a duplicate)",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input (the fields are named)",
    503: "Busy: retry after the Retry-After seconds",
}


# The handler of each exception type the application answers in the ErrorBody shape.
HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (RequestValidationError, validation_handler),
    (AppError, app_error_handler),
    (StarletteHTTPException, http_error_handler),
    (StaleDataError, stale_handler),
    (IntegrityError, integrity_handler),
    (SATimeoutError, pool_timeout_handler),
    (OperationalError, operational_handler),
)
