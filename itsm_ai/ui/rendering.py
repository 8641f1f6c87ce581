"""Page rendering: the Jinja environment, its display filters and the role's home page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from itsm_ai.auth.dependencies import CSRF_HEADER, CSRF_VALUE
from itsm_ai.auth.models import User
from itsm_ai.base.levels import IMPACT_LABELS, URGENCY_LABELS
from itsm_ai.base.roles import Role
from itsm_ai.sla import service as sla_service

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
HOME = {
    Role.requester: "/portal",
    Role.agent: "/console",
    Role.admin: "/console",
    Role.data_scientist: "/console",
}
TICKET_PATHS = {
    "incident": "incidents",
    "service_request": "requests",
    "problem": "problems",
    "change": "changes",
}


def _fmt_dt(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)  # times inside JSON columns (suggestion feedback)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fmt_span(seconds: float) -> str:
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _fmt_due(value: Any) -> str:
    """'due in 3h 20m' or 'overdue by 1h 5m' relative to the SLA engine's now."""
    if not isinstance(value, datetime):
        return "no SLA"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    left = (value - sla_service.current_time()).total_seconds()
    return f"due in {_fmt_span(left)}" if left >= 0 else f"overdue by {_fmt_span(left)}"


def _fmt_pct(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{float(value) * 100:.0f}%" if float(value) <= 1 else f"{float(value):.0f}%"


def _label(value: Any) -> str:
    return "" if value is None else str(value).replace("_", " ")


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    # Every user-written value is escaped; only the reports' SVG charts are marked safe, and they escape every
    # text they contain themselves (itsm_ai.reports.charts).
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(dt=_fmt_dt, due=_fmt_due, pct=_fmt_pct, label=_label, span=_fmt_span)
_env.globals.update(
    csrf_header=CSRF_HEADER,
    csrf_value=CSRF_VALUE,
    ticket_paths=TICKET_PATHS,
    level_labels={"impact": IMPACT_LABELS, "urgency": URGENCY_LABELS},
)
templates = Jinja2Templates(env=_env)


@dataclass(frozen=True)
class PageIdentity:
    """Who is logged in, detached from the database session (for error pages)."""

    username: str
    role: Role


def render(
    request: Request, name: str, user: User | PageIdentity | None, status_code: int = 200, **context: Any
) -> Response:
    """Render a page template with the user and the navigation for their role."""
    return templates.TemplateResponse(
        request,
        name,
        {"user": user, "home": HOME.get(user.role) if user else "/login", **context},
        status_code=status_code,
    )


# -- Markdown and diffs for knowledge articles ---------------------------------------------------------------

# Tags and attributes an article may use once rendered; everything else (scripts, styles, event handlers,
# javascript: links) is dropped by nh3 even though markdown-it already refuses raw HTML.
_MD_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "del", "img",
}  # fmt: skip
_MD_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


def markdown_html(text: str | None) -> markupsafe.Markup:
    """Render an article's Markdown to sanitised HTML (raw HTML in the source is shown as text)."""
    import nh3
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").render(text or "")
    clean = nh3.clean(
        html,
        tags=_MD_TAGS,
        attributes=_MD_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener",
    )
    return markupsafe.Markup(clean)


@dataclass(frozen=True)
class DiffLine:
    """One line of a line diff: ' ' kept, '+' added, '-' removed, '@' a hunk header."""

    op: str
    text: str


def diff_lines(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A unified line diff between two texts, as lines to render (escaped by the template)."""
    import difflib

    out = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        op = "@" if line.startswith("@@") else line[:1] or " "
        out.append(DiffLine(op, line[1:] if op != "@" else line))
    return out


_env.filters.update(markdown=markdown_html)
