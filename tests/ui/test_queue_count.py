"""The queue counts its matches up to a cap and still pages through every ticket past it."""

from __future__ import annotations

import re

from tests.ui.conftest import login


def _numbers(html: str) -> list[str]:
    return re.findall(r'<tr data-number="([A-Z]+\d+)"', html)


def test_count_is_capped_and_paging_goes_on_past_the_cap(client, users, make, monkeypatch):
    from itsm_ai.ui import agent_queue

    monkeypatch.setattr(agent_queue, "PAGE_SIZE", 2)
    monkeypatch.setattr(agent_queue, "COUNT_CAP", 3)
    tickets = [make.incident(short_description=f"Ticket {i}")["number"] for i in range(5)]
    login(client, "agent")
    seen, page, pages = [], 1, []
    while page < 10:
        html = client.get("/console", params={"page": page}).text
        pages.append(html)
        seen += _numbers(html)
        if 'rel="next"' not in html:
            break
        page += 1
    assert sorted(seen) == sorted(tickets) and len(seen) == 5
    assert "More than 3 tickets" in pages[0]
    monkeypatch.setattr(agent_queue, "COUNT_CAP", 10)
    assert "5 tickets" in client.get("/console").text
