"""The API docs pages (/docs, /redoc) load their assets from this app only, with a CSP that allows their
inline scripts by hash rather than 'unsafe-inline'."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
URL_ATTR = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _script_src(csp: str) -> str:
    return next(d for d in csp.split(";") if d.strip().startswith("script-src")).strip()


@pytest.mark.parametrize("path", PAGES)
def test_docs_pages_reference_local_urls_only(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", r.text), "a docs page names another host"
    for url in URL_ATTR.findall(r.text):
        assert url.startswith("/") and not url.startswith("//"), url


@pytest.mark.parametrize(
    ("page", "asset", "content_type"),
    [
        ("/docs", "swagger-ui-bundle.js", "text/javascript"),
        ("/docs", "swagger-ui.css", "text/css"),
        ("/docs", "favicon.png", "image/png"),
        ("/redoc", "redoc.standalone.js", "text/javascript"),
    ],
)
def test_docs_assets_are_served_with_their_content_type(client, page, asset, content_type):
    html = client.get(page).text
    url = next(u for u in URL_ATTR.findall(html) if u.endswith(f"/{asset}"))
    r = client.get(url)
    assert r.status_code == 200, url
    assert r.headers["content-type"].split(";")[0] == content_type, url
    assert len(r.content) > 1000, url


def test_swagger_ui_points_at_the_openapi_document_and_oauth2_redirect(client):
    html = client.get("/docs").text
    assert "url: '/openapi.json'" in html
    assert "/docs/oauth2-redirect" in html
    assert client.get("/openapi.json").json()["components"]["securitySchemes"], "no Authorize scheme"


@pytest.mark.parametrize("path", PAGES)
def test_docs_csp_allows_exactly_the_inline_scripts_by_hash(client, path):
    r = client.get(path)
    script_src = _script_src(r.headers["content-security-policy"])
    assert "unsafe-inline" not in script_src and "http" not in script_src
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(r.text)
    }
    assert set(script_src.split()) == {"script-src", "'self'", *expected}
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_rest_of_the_app_keeps_the_strict_csp(client):
    for path in ("/login", "/docs/assets/swagger-ui.css", "/openapi.json"):
        csp = client.get(path).headers["content-security-policy"]
        assert _script_src(csp) == "script-src 'self'", path
        assert "style-src 'self';" in csp, path
