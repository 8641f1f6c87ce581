"""Which API routes the running app serves: pages hide controls whose API (another package's) is absent."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

_PARAM = re.compile(r"\{[^}]*\}")


def _walk(routes, prefix: str = ""):
    for route in routes:
        if isinstance(route, APIRoute):
            for method in route.methods:
                yield method.lower(), _PARAM.sub("{}", prefix + route.path)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers nested
            context = getattr(route, "include_context", None)
            yield from _walk(route.original_router.routes, prefix + (getattr(context, "prefix", "") or ""))


def _route_table(app: FastAPI) -> frozenset[tuple[str, str]]:
    table = getattr(app.state, "ui_route_table", None)
    if table is None:
        table = frozenset(_walk(app.routes))
        if not any(path.startswith("/api/") for _, path in table):
            # Unknown router internals: the OpenAPI document (slower to build) lists every API route.
            paths = app.openapi().get("paths", {})
            table = frozenset((m, _PARAM.sub("{}", p)) for p, ops in paths.items() for m in ops)
        app.state.ui_route_table = table
    return table


def has_route(request: Request, method: str, path: str) -> bool:
    """True when the running app serves this API route (features of other packages may be absent)."""
    return (method.lower(), _PARAM.sub("{}", path)) in _route_table(request.app)
