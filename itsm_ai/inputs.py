"""Input bounds every endpoint shares: integers the database can store, ids in URLs, datetimes that convert
to UTC, a size cap on free-form JSON, and a guard refusing NUL characters in any string of a request.

Issue 13: such input reached the database and answered 500 (PostgreSQL has 32-bit integer columns and
refuses NUL in text; SQLite overflows past 64 bits; converting year 1 at +14:00 to UTC overflows).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Path, Query
from pydantic import AfterValidator, Field
from starlette.responses import JSONResponse

from itsm_ai.config import get_settings
from itsm_ai.errors import error_body

# The largest id or counter any column holds on every backend (PostgreSQL INTEGER).
DB_INT_MAX = 2**31 - 1

DbInt = Annotated[int, Field(ge=-DB_INT_MAX - 1, le=DB_INT_MAX)]
"""An integer field stored in an INTEGER column."""

RowId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="The record's numeric id.")]
"""A numeric id in a URL path."""

Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX, description="Rows to skip.")]
"""An offset query parameter."""


def parse_id(ref: str) -> int | None:
    """The id a reference spells in ASCII digits within the id range, else None ('²' and '٣' are not 2, 3)."""
    text = ref.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= DB_INT_MAX else None


def _to_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A datetime that, when it has an offset, converts to UTC (out of range there is a 422, not a 500)."""


def _cap_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    limit = get_settings().max_extra_bytes
    size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
    if size > limit:
        raise ValueError(f"{size} bytes serialized; at most {limit} (setting max_extra_bytes)")
    return value


ExtraJson = Annotated[dict[str, Any], AfterValidator(_cap_json)]
"""Free-form JSON fields of a record (`extra`), capped at `max_extra_bytes` serialized."""


# ------------------------------------------------------------------------------------------ NUL guard

_NUL = "\x00"
_CHECKED_BODIES = ("application/json", "application/x-www-form-urlencoded")


def _nul_in_json(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "body") if _NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if _NUL in str(key):
                return inner
            found = _nul_in_json(item, inner)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in_json(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _nul_in_pairs(raw: bytes) -> str | None:
    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if _NUL in key or _NUL in value:
            return key.replace(_NUL, "") or "query"
    return None


def nul_field(*, path: str, query: bytes, content_type: str, body: bytes) -> str | None:
    """The name of the first field of a request holding a NUL character, or None."""
    if _NUL in path:
        return "path"
    if b"%00" in query or b"\x00" in query:
        found = _nul_in_pairs(query)
        if found:
            return found
    if not body:
        return None
    if content_type.startswith("application/json") and (b"\\u0000" in body or b"\x00" in body):
        try:
            return _nul_in_json(json.loads(body), "")
        except ValueError:
            return None  # not JSON: the endpoint's validation answers that
    if content_type.startswith("application/x-www-form-urlencoded") and (b"%00" in body or b"\x00" in body):
        return _nul_in_pairs(body)
    return None


class NulGuard:
    """ASGI middleware: 422 naming the field when a path, query, JSON or form string holds a NUL character.

    PostgreSQL refuses NUL in text (SQLite truncates at it in places); no field of this service means one.
    Multipart bodies (uploaded files are bytes) pass through.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        body = b""
        replay = receive
        if content_type.startswith(_CHECKED_BODIES):
            chunks = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            replay = _replaying(body, receive)
        query = scope.get("query_string", b"")
        field = nul_field(path=scope.get("path", ""), query=query, content_type=content_type, body=body)
        if field is None:
            await self.app(scope, replay, send)
            return
        message = f"{field}: must not contain NUL characters (\\u0000)"
        response = JSONResponse(
            status_code=422,
            content=error_body(422, "validation_error", message, [{"field": field, "message": message}]),
        )
        await response(scope, replay, send)


def _replaying(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
