"""Parallel ServiceNow API calls against the live server: no 500, nothing lost, numbers unique, and parallel
updates of one record either apply or answer 409 (or 503 to retry) in ServiceNow's error shape."""

from __future__ import annotations

import ssl
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servicenow.conftest import basic

pytestmark = pytest.mark.slow


def test_parallel_inserts_updates_and_reads(instance, tls):
    ca = ssl.create_default_context(cafile=str(tls[0]))

    def insert(i: int) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
            return c.post("/api/now/table/incident", json={"short_description": f"parallel {i}", "impact": 2})

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(insert, range(24)))
    assert [r.status_code for r in created] == [201] * 24, [r.text for r in created if r.status_code != 201][
        :2
    ]
    numbers = [r.json()["result"]["number"] for r in created]
    assert len(set(numbers)) == 24
    sys_ids = [r.json()["result"]["sys_id"] for r in created]

    def patch(sys_id: str) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
            return c.patch(f"/api/now/table/incident/{sys_id}", json={"state": "2", "comments": "on it"})

    def read(_i: int) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("requester"), timeout=60) as c:
            return c.get("/api/now/table/incident", params={"sysparm_query": "stateIN1,2"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        patched = list(pool.map(patch, sys_ids))
        reads = list(pool.map(read, range(8)))
    assert [r.status_code for r in patched] == [200] * 24
    assert all(r.status_code == 200 and r.json()["result"] == [] for r in reads)  # none are the requester's

    with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
        listed = c.get(
            "/api/now/table/incident", params={"sysparm_query": "state=2", "sysparm_fields": "sys_id"}
        )
        assert listed.headers["X-Total-Count"] == "24"
        notes = c.get("/api/now/table/sys_journal_field", params={"sysparm_fields": "element_id"})
        assert sorted(n["element_id"] for n in notes.json()["result"]) == sorted(sys_ids)

    # the same record from many clients at once: each answer is 200 or a 409 to retry, never a 500
    target = sys_ids[0]

    def same(i: int) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
            return c.patch(f"/api/now/table/incident/{target}", json={"description": f"writer {i}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(same, range(16)))
    assert {r.status_code for r in answers} <= {200, 409, 503}, [
        r.text for r in answers if r.status_code not in (200, 409, 503)
    ]
    assert any(r.status_code == 200 for r in answers)
    for r in answers:
        if r.status_code in (409, 503):
            assert r.json()["status"] == "failure"
    with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
        final = c.get(f"/api/now/table/incident/{target}").json()["result"]
    winners = {r.json()["result"]["description"] for r in answers if r.status_code == 200}
    assert final["description"] in winners
