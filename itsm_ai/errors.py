"""Domain errors and the one error body shape every endpoint returns."""

from __future__ import annotations

import re
from typing import Any


class AppError(Exception):
    """Base of errors that map to an HTTP status and a clear message."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body: {"error": {code, message, fields, ...details}}."""
        fields = [{"field": self.field, "message": self.message}] if self.field else []
        return error_body(self.status_code, self.code, self.message, fields, **self.details)


class NotFoundError(AppError):
    status_code = 404
    code = "not_found"


class ConflictError(AppError):
    status_code = 409
    code = "conflict"


class PermissionDeniedError(AppError):
    status_code = 403
    code = "forbidden"


class AuthenticationError(AppError):
    status_code = 401
    code = "unauthorized"


class InvalidInputError(AppError):
    status_code = 422
    code = "validation_error"


class TooManyRequestsError(AppError):
    """429; `retry_after` (seconds) becomes the Retry-After header."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field, details={"retry_after": retry_after})
        self.retry_after = retry_after


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(AppError):
    status_code = 415
    code = "unsupported_media_type"


def error_body(
    status: int, code: str, message: str, fields: list[dict[str, str]] | None = None, **extra: Any
):
    """Build the error body shared by every endpoint."""
    return {"error": {"status": status, "code": code, "message": message, "fields": fields or [], **extra}}


# Transient database conditions (lock waits, pool exhaustion, a dropped connection, a PostgreSQL serialization
# failure or deadlock victim): the request did nothing and may be retried, so 503 + Retry-After, not 500.
# Here, below every API, so the native handlers and ServiceNow's paths make the one decision.
TRANSIENT_DATABASE_ERROR = re.compile(
    r"database is locked|database table is locked|database is busy|deadlock detected|could not serialize"
    r"|too many clients|remaining connection slots|lock timeout|canceling statement due to lock timeout"
    r"|server closed the connection|connection (?:is closed|refused|timed out)|terminating connection",
    re.IGNORECASE,
)


def is_transient_database_error(exc: Exception) -> bool:
    """True for a database error (an OperationalError) worth a 503 + Retry-After: a retry may succeed."""
    if getattr(exc, "connection_invalidated", False):
        return True
    return bool(TRANSIENT_DATABASE_ERROR.search(str(getattr(exc, "orig", exc))))
