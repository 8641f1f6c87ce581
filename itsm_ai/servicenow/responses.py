"""ServiceNow's error shape {"error": {"message", "detail"}, "status": "failure"} for errors raised on its
paths, including a busy database (503 + Retry-After) and bad input (400 where the native API answers 422)."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from itsm_ai.config import get_settings
from itsm_ai.errors import AppError, TooManyRequestsError, is_transient_database_error

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
