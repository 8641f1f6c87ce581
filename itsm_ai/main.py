"""The FastAPI application: routers under /api/v1, one error body shape, OpenAPI at /docs."""

from __future__ import annotations

import base64
import hashlib
import re
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from itsm_ai import __version__, all_models  # noqa: F401  (assembles the store: specs and their hooks)
from itsm_ai.admission import AdmissionLimit
from itsm_ai.config import get_settings
from itsm_ai.engine import install as install_engine
from itsm_ai.http_errors import ERROR_RESPONSES, HANDLERS, ErrorBody
from itsm_ai.inputs import NulGuard

API_PREFIX = "/api/v1"


def _servicenow_or(handler):
    """The handler, except on ServiceNow's paths (/api/now/...), whose errors take ServiceNow's shape.

    A handler, not a wrapper around the routes: it runs after the request's session has rolled back."""
    from itsm_ai.servicenow.responses import as_sn_error, is_servicenow_path

    def handle(request: Request, exc: Exception):
        if is_servicenow_path(request.url.path):
            response = as_sn_error(exc)
            if response is not None:
                return response
        return handler(request, exc)

    return handle


@asynccontextmanager
async def _lifespan(app: FastAPI):
    from itsm_ai.config import get_settings
    from itsm_ai.database import get_engine
    from itsm_ai.worker import embedded_worker

    settings = get_settings()
    # Sync endpoints and dependencies run on anyio's thread pool: no fewer threads than requests admitted.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
    in_process = settings.worker_in_process
    if in_process is None:
        # On the SQLite default there is no separate worker process to rely on.
        in_process = get_engine().dialect.name == "sqlite"
    worker = embedded_worker() if in_process and app.state.start_worker else None
    if worker is not None:
        worker.start()
    from itsm_ai.knowledge.retrieval.sync import on_shutdown, on_startup

    on_startup(background=app.state.start_worker)  # the retrieval index: load and reconcile
    if app.state.start_worker:
        from itsm_ai.chat.detector import warm_up_in_background
        from itsm_ai.reports.flows import reconcile_in_background

        warm_up_in_background()  # trains the chat intent detector when it is absent or stale
        reconcile_in_background()  # report facts of tickets written before they existed, or by raw SQL
    try:
        yield
    finally:
        if worker is not None:
            worker.stop()
        on_shutdown()


def _openapi_with_errors(app: FastAPI):
    """The OpenAPI document with the error answers declared on every operation in the shape they have."""
    from itsm_ai.servicenow.models import OAuthErrorBody, SnErrorBody
    from itsm_ai.servicenow.responses import is_servicenow_path

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")[
            "$defs"
        ].items():
            schemas[name] = schema
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        body.pop("$defs", None)
        schemas["ErrorBody"] = body
        for model in (SnErrorBody, OAuthErrorBody):
            sn_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(sn_schema.pop("$defs", {}))
            schemas[model.__name__] = sn_schema
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        # ServiceNow's paths answer in ServiceNow's shape; its token endpoint also in OAuth's.
        sn_content = {"application/json": {"schema": {"$ref": "#/components/schemas/SnErrorBody"}}}
        oauth_content = {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/SnErrorBody"},
                        {"$ref": "#/components/schemas/OAuthErrorBody"},
                    ]
                }
            }
        }
        for path, operations in document.get("paths", {}).items():
            if path == "/oauth_token.do":
                shape = oauth_content
            elif is_servicenow_path(path):
                shape = sn_content
            else:
                shape = content
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_RESPONSES.items():
                    responses[str(status)] = {"description": description, "content": shape}
                responses["503"]["headers"] = {
                    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
                }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    return openapi


# Headers a cross-origin caller sends, and the response headers its script may read.
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
CORS_EXPOSED_HEADERS = ["Location", "Idempotent-Replayed", "X-Total-Count", "X-Next-Cursor"]


def _add_cors(app: FastAPI) -> None:
    from itsm_ai.config import get_settings

    origins = get_settings().cors_origins
    if not origins:
        return
    # Without credentials: browsers send no cookie cross-origin, so the session cookie (and its CSRF guard)
    # stays the web UI's own; other origins authenticate with a bearer token.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
    )


# The pages load their own script and style sheet only (no inline script, no other origin); a few templates
# and the report charts use style attributes, which style-src-attr allows without allowing <style> or script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware: security headers on every HTTP response (a header the route set itself is kept)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = CONTENT_SECURITY_POLICY.encode()

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", csp), *SECURITY_HEADERS):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The API docs pages use the Swagger UI and ReDoc bundles of the fastapi-offline package, served from here, so
# they work offline and load nothing from another origin.
DOCS_ASSETS_URL = "/docs/assets"
DOCS_ASSETS = files("fastapi_offline") / "static"
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_content_security_policy(html: str) -> str:
    """CSP for one docs page: local assets only, its inline scripts allowed by hash, not 'unsafe-inline'."""
    script_src = " ".join(
        ["'self'"]
        + [
            f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in INLINE_SCRIPT.findall(html)
        ]
    )
    # ReDoc (styled-components) and Swagger UI insert <style> elements at run time; ReDoc builds its search
    # worker from a blob: URL. Both stay on these pages only.
    return (
        f"default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _docs_page(page: HTMLResponse) -> HTMLResponse:
    """The page with its own CSP header (SecurityHeaders keeps a header the route set)."""
    html = page.body.decode()
    return HTMLResponse(html, headers={"content-security-policy": docs_content_security_policy(html)})


def _install_docs(app: FastAPI) -> None:
    """Mount the Swagger UI (/docs, with its OAuth2 redirect) and ReDoc (/redoc) pages on local assets."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _docs_page(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
                swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return _docs_page(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _docs_page(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )


def create_app(*, start_worker: bool = True) -> FastAPI:
    """Build the application with every router mounted under /api/v1."""
    from itsm_ai.approval.views import router as approval_router
    from itsm_ai.asset.views import router as asset_router
    from itsm_ai.attachment.views import router as attachment_router
    from itsm_ai.auth.views import router as auth_router
    from itsm_ai.automation.views import router as automation_router
    from itsm_ai.catalog.views import router as catalog_router
    from itsm_ai.chat.views import router as chat_router
    from itsm_ai.classify.views import router as classify_router
    from itsm_ai.data.views import router as data_router
    from itsm_ai.encoder.views import router as encoder_router
    from itsm_ai.group.views import router as group_router
    from itsm_ai.knowledge.views import router as knowledge_router
    from itsm_ai.mail.views import router as mail_router
    from itsm_ai.notification.views import router as notification_router
    from itsm_ai.predictions.views import router as predictions_router
    from itsm_ai.reports.views import router as reports_router
    from itsm_ai.servicenow.attachment_views import router as servicenow_attachment_router
    from itsm_ai.servicenow.views import router as servicenow_router
    from itsm_ai.sla.views import router as sla_router
    from itsm_ai.ticket.views import router as ticket_router
    from itsm_ai.webhooks.views import router as webhook_router
    from itsm_ai.workflow.views import router as workflow_router

    app = FastAPI(
        title="itsm-ai",
        version=__version__,
        description="AI-first IT service management: tickets, workflow, triage and knowledge over HTTP.",
        docs_url=None,  # served by _install_docs from local assets, not FastAPI's CDN pages
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.start_worker = start_worker
    settings = get_settings()
    app.add_middleware(NulGuard)
    app.add_middleware(
        AdmissionLimit,
        limit=settings.api_max_concurrent_requests,
        timeout=settings.api_queue_timeout_seconds,
        retry_after=settings.api_retry_after_seconds,
    )
    _add_cors(app)  # after the guards, so their 503 and 422 carry CORS headers too
    app.add_middleware(SecurityHeaders)  # added last: outermost, so error and CORS answers get them too
    install_engine()
    for exception_type, handler in HANDLERS:
        app.add_exception_handler(exception_type, _servicenow_or(handler))
    for router in (
        auth_router,
        ticket_router,
        approval_router,
        knowledge_router,
        asset_router,
        catalog_router,
        group_router,
        data_router,
        workflow_router,
        sla_router,
        automation_router,
        webhook_router,
        encoder_router,  # before triage's: /models/encoder/... wins over /models/{name}/...
        classify_router,
        chat_router,
        attachment_router,
        notification_router,
        mail_router,
        reports_router,
        predictions_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(servicenow_router)  # ServiceNow's own paths (/api/now/..., /oauth_token.do)
    app.include_router(servicenow_attachment_router)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.openapi = _openapi_with_errors(app)
    _install_docs(app)

    from itsm_ai.ui.views import install as install_ui

    install_ui(app)  # the web UI (/login, /portal, /console, /static), left out of the OpenAPI document

    return app
