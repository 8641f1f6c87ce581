"""Parallel ServiceNow API calls against the live server: no 500, nothing lost, numbers unique, and parallel
updates of one record either apply or answer 409 (or 503 to retry) in ServiceNow's error shape. A write that
waited past SQLite's busy timeout on the loaded test machine answers 503 + Retry-After with nothing saved; the
clients here retry it as its Retry-After asks, so every insert and update still lands exactly once."""

from __future__ import annotations

import ssl
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.servicenow.conftest import basic

pytestmark = pytest.mark.slow


def _retrying(send) -> httpx.Response:
    """The response of send(), sent again (at most 5 times) while it answers 503 + Retry-After."""
    for _ in range(5):
        response = send()
        if response.status_code != 503:
            return response
        assert response.json()["status"] == "failure" and int(response.headers["Retry-After"]) >= 1
        time.sleep(int(response.headers["Retry-After"]))
    return response


def test_parallel_inserts_updates_and_reads(instance, tls):
    ca = ssl.create_default_context(cafile=str(tls[0]))

    def insert(i: int) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
            body = {"short_description": f"parallel {i}", "impact": 2}
            return _retrying(lambda: c.post("/api/now/table/incident", json=body))

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
            body = {"state": "2", "comments": "on it"}
            return _retrying(lambda: c.patch(f"/api/now/table/incident/{sys_id}", json=body))

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


def test_parallel_refresh_grants_walks_related_queries_and_grouped_stats(instance, tls):
    """The new reads and the refresh grant from many clients at once against the live server."""
    ca = ssl.create_default_context(cafile=str(tls[0]))
    with httpx.Client(base_url=instance, verify=ca, headers=basic("admin"), timeout=60) as c:
        assert (
            c.post("/api/now/table/sys_user_group", json={"name": "Net", "manager": "agent"}).status_code
            == 201
        )
        problem = c.post(
            "/api/now/table/problem", json={"short_description": "root", "assignment_group": "Net"}
        ).json()["result"]
        for i in range(6):
            r = c.post(
                "/api/now/table/incident",
                json={
                    "short_description": f"linked {i}",
                    "problem_id": problem["sys_id"],
                    "caller_id": "requester",
                },
            )
            assert r.status_code == 201, r.text
        grant = c.post(
            "/oauth_token.do", data={"grant_type": "password", "username": "agent", "password": PASSWORD}
        ).json()

    def refresh(_i: int) -> httpx.Response:
        with httpx.Client(base_url=instance, verify=ca, timeout=60) as c:
            return c.post(
                "/oauth_token.do",
                data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]},
            )

    def read(i: int) -> tuple[str, httpx.Response]:
        with httpx.Client(base_url=instance, verify=ca, headers=basic("agent"), timeout=60) as c:
            kind = ("walk", "related", "stats")[i % 3]
            if kind == "walk":
                query = "problem_id.assignment_group.manager.user_name=agent"
                return kind, c.get("/api/now/table/incident", params={"sysparm_query": query})
            if kind == "related":
                query = "RLQUERYincident.problem_id,>=6^ENDRLQUERY"
                return kind, c.get("/api/now/table/problem", params={"sysparm_query": query})
            params = {
                "sysparm_count": "true",
                "sysparm_group_by": "caller_id",
                "sysparm_display_value": "all",
            }
            return kind, c.get("/api/now/stats/incident", params=params)

    with ThreadPoolExecutor(max_workers=8) as pool:
        refreshed = list(pool.map(refresh, range(12)))
        reads = list(pool.map(read, range(24)))
    assert [r.status_code for r in refreshed] == [200] * 12
    token = refreshed[-1].json()["access_token"]
    with httpx.Client(base_url=instance, verify=ca, timeout=60) as c:
        assert (
            c.get("/api/now/table/incident", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    for kind, r in reads:
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        if kind == "walk":
            assert r.headers["X-Total-Count"] == "6"
        elif kind == "related":
            assert [p["sys_id"] for p in result] == [problem["sys_id"]]
        else:
            assert [g["groupby_fields"][0]["display_value"] for g in result] == ["requester"]
            assert result[0]["stats"]["count"] == "6"
