"""Reading ServiceNow's request parameters: sysparm_* flags, numbers, fields and views, the JSON body, and the
paging Link header."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from itsm_ai.servicenow import codes
from itsm_ai.servicenow.errors import SnBadRequest
from itsm_ai.servicenow.record_json import Shape


def flag(value: str | None, default: bool = False) -> bool:
    """A sysparm_ boolean ("true", "1", "yes"); `default` when absent."""
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


def record_shape(request: Request) -> Shape:
    """How records are shaped: sysparm_display_value and sysparm_exclude_reference_link."""
    params = request.query_params
    display = (params.get("sysparm_display_value") or "false").strip().lower()
    if display not in ("true", "false", "all"):
        raise SnBadRequest("sysparm_display_value: must be true, false or all", field="sysparm_display_value")
    base = str(request.base_url).rstrip("/")
    return Shape(display, flag(params.get("sysparm_exclude_reference_link")), base)


def fields_of(request: Request, table: str) -> list[str] | None:
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


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter, at least `low` and capped at `high`."""
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


async def json_body(request: Request) -> Any:
    """The JSON body (read in a dependency, so the endpoints stay sync and run off the event loop)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SnBadRequest("the request body is not valid JSON", field="body") from None


def link_header(request: Request, limit: int, offset: int, total: int) -> str:
    """The Link header for paging (first, prev, next, last), as ServiceNow sends it."""
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


def plain_params(request: Request) -> dict[str, str]:
    """The query parameters that are field=value conditions."""
    # Any query parameter that is not a sysparm_ is a field=value condition, as in ServiceNow.
    return {k: v for k, v in request.query_params.items() if not k.startswith("sysparm_")}


def csv_param(request: Request, name: str) -> list[str]:
    """A comma-separated query parameter as a list of names."""
    raw = request.query_params.get(name) or ""
    return [f.strip() for f in raw.split(",") if f.strip()]
