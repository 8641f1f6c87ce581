"""The console's reports dashboard: who may open it, what it shows, and bad input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from tests.sla.conftest import iso
from tests.ui.conftest import login

OPENED = datetime(2016, 3, 10, 9, 0, tzinfo=UTC)


def test_dashboard_is_for_staff_and_data_scientists(client, users):
    assert (
        client.get("/console/reports", follow_redirects=False).headers["location"].startswith("/login?next=")
    )
    login(client, "requester")
    page = client.get("/console/reports")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    for name in ("agent", "admin", "data_scientist"):
        login(client, name)
        page = client.get("/console/reports")
        assert page.status_code == 200, name
        assert '<a href="/console/reports" aria-current="page">Reports</a>' in page.text


def test_dashboard_shows_figures_charts_tables_and_csv_links(client, users, make):
    group = make.group("Network")["name"]
    for hours in (0, 5, 30):
        make.incident(
            opened_at=iso(OPENED + timedelta(hours=hours)), assignment_group=group, category="<b>vpn</b>"
        )
    login(client, "agent")
    page = client.get("/console/reports")  # default range: 12 months up to the latest ticket (March 2016)
    assert page.status_code == 200
    text = page.text
    assert 'value="2015-04-01"' in text and 'value="2016-03-11"' in text
    assert re.search(r"<dt>Opened</dt><dd>3</dd>", text)
    assert "<b>vpn</b>" not in text
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", text, flags=re.S)
    assert len(svgs) == 4
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.get("role") == "img" and root.find("{http://www.w3.org/2000/svg}title").text
    for title in ("Volume and backlog", "SLA compliance per group", "Distribution of resolution times"):
        assert f">{title}</h2>" in text
    assert text.count("<summary>Data table</summary>") == 4
    assert "/api/v1/reports/backlog?" in text and "format=csv" in text
    csv_link = (
        re.search(r'href="(/api/v1/reports/sla-compliance\?[^"]+)"', text).group(1).replace("&amp;", "&")
    )
    csv = client.get(csv_link)  # the session cookie is enough for a GET
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "Network" in csv.text


def test_dashboard_filters_by_group_and_interval(client, users, make):
    net, desk = make.group("Network")["name"], make.group("Desk")["name"]
    make.incident(opened_at=iso(OPENED), assignment_group=net)
    make.incident(opened_at=iso(OPENED), assignment_group=desk)
    login(client, "data_scientist")
    page = client.get(f"/console/reports?from=2016-03-01&to=2016-03-31&interval=day&group={net}")
    assert page.status_code == 200
    assert re.search(r"<dt>Opened</dt><dd>1</dd>", page.text)
    assert "2016-03-31" in page.text and 'value="day" selected' in page.text


def test_bad_input_shows_the_form_with_the_error(client, users):
    login(client, "agent")
    page = client.get("/console/reports?from=2016-03-31&to=2016-03-01")
    assert page.status_code == 422
    assert 'role="alert"' in page.text and "to: must be after from" in page.text
    assert '<form method="get" action="/console/reports"' in page.text
    assert client.get("/console/reports?interval=fortnight").status_code == 422
    assert client.get("/console/reports?group=nobody").status_code == 422
