"""The console shows breach risk with its reasons in the queue, and risk and time to resolve on the ticket."""

from __future__ import annotations

import re

from tests.ui.conftest import login


def test_queue_and_ticket_page_show_the_predictions(client, users, make, trained):
    make.group("Network")
    inc = make.incident(short_description="VPN down", category="network", assignment_group="Network")
    prediction = make.get(f"predictions/incidents/{inc['number']}")
    login(client, "agent")
    queue = client.get("/console").text
    percent = f"{round(prediction['breach_risk'] * 100)}%"
    row = queue[queue.index(inc["number"]) :]
    row = row[: row.index("</tr>")]
    assert "Breach risk" in queue and percent in row
    if prediction["reasons"]:
        assert prediction["reasons"][0]["label"] in row
    page = client.get(f"/console/tickets/{inc['number']}").text
    block = page[page.index('id="predictions"') :]
    assert "Breach risk" in block and percent in block
    assert re.search(r"Time to resolve</strong> about [\d.]+ h more", block)
    # The time the figure was computed reads like every other time on the page, not as a raw ISO stamp.
    assert re.search(r"\(as of \d{4}-\d\d-\d\d \d\d:\d\d UTC;", block), block[:600]
    assert f"model {prediction['ttr_version']}" in block


def test_pages_without_models_show_no_risk(client, users, make, models_dir):
    inc = make.incident(short_description="Printer offline")
    login(client, "agent")
    assert client.get("/console").status_code == 200
    page = client.get(f"/console/tickets/{inc['number']}").text
    block = page[page.index('id="predictions"') :]
    assert "Breach risk</strong>" not in block.split("</section>")[0]
