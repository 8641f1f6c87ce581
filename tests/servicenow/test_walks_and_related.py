"""Multi-level dot-walking (problem_id.assignment_group.manager.user_name) and related-list queries
(RLQUERY...ENDRLQUERY) through the Table and Aggregate APIs: results, clear 400s naming the part, access
(another requester, a data scientist) and parallel readers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.servicenow.conftest import assert_sn_error, basic

T = "/api/now/table"


@pytest.fixture
def world(client, users):
    """Groups Network (manager agent) and Desk (manager agent2); problem P1 assigned to Network with two
    incidents (requester's "vpn down", requester2's "mail"), problem P2 assigned to Desk with none, and
    requester's "printer jam" on no problem."""
    admin = basic("admin")
    for name, manager in (("Network", "agent"), ("Desk", "agent2")):
        r = client.post(f"{T}/sys_user_group", json={"name": name, "manager": manager}, headers=admin)
        assert r.status_code == 201, r.text
    problems = {}
    for label, group in (("P1", "Network"), ("P2", "Desk")):
        r = client.post(
            f"{T}/problem", json={"short_description": label, "assignment_group": group}, headers=admin
        )
        assert r.status_code == 201, r.text
        problems[label] = r.json()["result"]
    incidents = {}
    for title, caller, problem in (
        ("vpn down", "requester", "P1"),
        ("mail", "requester2", "P1"),
        ("printer jam", "requester", None),
    ):
        body = {"short_description": title, "caller_id": caller, "impact": 2, "urgency": 2}
        if problem:
            body["problem_id"] = problems[problem]["sys_id"]
        r = client.post(f"{T}/incident", json=body, headers=basic("agent"))
        assert r.status_code == 201, r.text
        incidents[title] = r.json()["result"]
    return {"problems": problems, "incidents": incidents}


def _titles(client, table: str, query: str, who: str = "agent") -> list[str]:
    r = client.get(
        f"{T}/{table}",
        params={"sysparm_query": query, "sysparm_fields": "short_description"},
        headers=basic(who),
    )
    assert r.status_code == 200, r.text
    return sorted(x["short_description"] for x in r.json()["result"])


def test_multi_level_dot_walk(client, world):
    assert _titles(client, "incident", "problem_id.assignment_group.manager.user_name=agent") == [
        "mail",
        "vpn down",
    ]
    assert _titles(client, "incident", "problem_id.assignment_group.name=Desk") == []
    # negations keep the records the path does not reach (no problem: nothing to walk to)
    assert _titles(client, "incident", "problem_id.assignment_group.manager.user_name!=agent") == [
        "printer jam"
    ]
    assert _titles(client, "incident", "problem_id.assignment_group.manager.user_nameISEMPTY") == [
        "printer jam"
    ]
    assert _titles(client, "incident", "problem_id.assignment_group.managerISNOTEMPTY") == [
        "mail",
        "vpn down",
    ]
    # a walk ending on a reference matches it by name or sys_id, like a reference field itself
    assert _titles(client, "incident", "problem_id.assignment_group=Network") == ["mail", "vpn down"]
    assert _titles(client, "problem", "assignment_group.manager.name=agent2") == []  # full name is empty
    assert _titles(client, "problem", "assignment_group.manager.user_nameSTARTSWITHagent2") == ["P2"]
    # plain field=value parameters walk too
    r = client.get(
        f"{T}/incident",
        params={"problem_id.assignment_group.name": "Network", "sysparm_fields": "number"},
        headers=basic("agent"),
    )
    assert r.headers["X-Total-Count"] == "2"


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("problem_id.assignment_group.nosuch=1", "problem_id.assignment_group.nosuch"),
        ("problem_id.nosuch.name=1", "problem_id.nosuch"),
        ("problem_id.short_description.name=1", "problem_id.short_description.name"),
        ("problem_id.assignment_group.manager.user_password=x", "user_password"),
        ("problem_id.work_notes=x", "problem_id.work_notes"),
        ("problem_id.assignment_group.manager.name.x.y=1", "at most 3"),
        ("caller_id.manager.name=x", "caller_id.manager"),
        ("problem_id.opened_at>notadate", "problem_id.opened_at"),
    ],
)
def test_bad_walks_are_clear_400s(client, world, query, mentions):
    r = client.get(f"{T}/incident", params={"sysparm_query": query}, headers=basic("agent"))
    assert_sn_error(r, 400, mentions)


def test_related_list_queries(client, world):
    # problems with at least one incident, with none, with two or more, with one active incident by requester2
    assert _titles(client, "problem", "RLQUERYincident.problem_id,>=1^ENDRLQUERY") == ["P1"]
    assert _titles(client, "problem", "^RLQUERYincident.problem_id,=0^ENDRLQUERY") == ["P2"]
    assert _titles(client, "problem", "RLQUERYincident.problem_id,>=2^ENDRLQUERY") == ["P1"]
    assert _titles(client, "problem", "RLQUERYincident.problem_id,>2^ENDRLQUERY") == []
    assert _titles(client, "problem", "RLQUERYincident.problem_id,<2^ENDRLQUERY") == ["P2"]
    query = "RLQUERYincident.problem_id,>=1^caller_id.user_name=requester2^active=true^ENDRLQUERY"
    assert _titles(client, "problem", query) == ["P1"]
    # combined with the outer query before and after, and ORed groups inside
    query = (
        "short_descriptionSTARTSWITHP^RLQUERYincident.problem_id,=1^short_description=mail^ORimpact=9"
        "^ENDRLQUERY^state=101"
    )
    assert _titles(client, "problem", query) == ["P1"]
    # users who are callers of at least two incidents; groups whose manager is agent2
    assert sorted(
        u["user_name"]
        for u in client.get(
            f"{T}/sys_user",
            params={
                "sysparm_query": "RLQUERYincident.caller_id,>=2^ENDRLQUERY",
                "sysparm_fields": "user_name",
            },
            headers=basic("agent"),
        ).json()["result"]
    ) == ["requester"]
    # the Aggregate API takes them too
    r = client.get(
        "/api/now/stats/problem",
        params={"sysparm_count": "true", "sysparm_query": "RLQUERYincident.problem_id,>=1^ENDRLQUERY"},
        headers=basic("agent"),
    )
    assert r.json()["result"]["stats"]["count"] == "1"


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("RLQUERYnosuch.problem_id,>=1^ENDRLQUERY", "nosuch"),
        ("RLQUERYincident.caller_id,>=1^ENDRLQUERY", "not a reference to problem"),
        ("RLQUERYincident.nosuch,>=1^ENDRLQUERY", "incident.nosuch"),
        ("RLQUERYincident.problem_id,>=1^nosuch=1^ENDRLQUERY", "nosuch"),
        ("RLQUERYincident.problem_id,>=1^active=true", "ENDRLQUERY"),
        ("RLQUERYincident.problem_id,many^ENDRLQUERY", "RLQUERY"),
    ],
)
def test_bad_related_list_queries_are_clear_400s(client, world, query, mentions):
    r = client.get(f"{T}/problem", params={"sysparm_query": query}, headers=basic("agent"))
    body = assert_sn_error(r, 400, mentions)
    assert "sysparm_query" in body["error"]["message"] + body["error"]["detail"]


def test_related_list_counts_only_what_the_user_may_read(client, world):
    # requester2 reads sys_user (only themselves): are they the caller of an incident? Only their own count.
    mine = client.get(
        f"{T}/sys_user",
        params={"sysparm_query": "RLQUERYincident.caller_id,>=1^ENDRLQUERY", "sysparm_fields": "user_name"},
        headers=basic("requester2"),
    )
    assert [u["user_name"] for u in mine.json()["result"]] == ["requester2"]
    # requester counts only their own incidents: users referred to as caller by >= 1 of requester's incidents
    # is requester alone, and nobody is the caller of requester2's incidents as far as requester can see
    none = client.get(
        f"{T}/sys_user",
        params={
            "sysparm_query": "RLQUERYincident.caller_id,>=1^caller_id.user_name=requester2^ENDRLQUERY",
            "sysparm_fields": "user_name",
        },
        headers=basic("requester"),
    )
    assert none.status_code == 200 and none.json()["result"] == []
    # problems are staff records: a requester may not list them at all, with or without RLQUERY
    query = {"sysparm_query": "RLQUERYincident.problem_id,>=1^ENDRLQUERY"}
    assert_sn_error(client.get(f"{T}/problem", params=query, headers=basic("requester")), 403)
    scientist = client.get(f"{T}/problem", params=query, headers=basic("data_scientist"))
    assert scientist.status_code in (200, 403)
    if scientist.status_code == 200:
        assert [p["short_description"] for p in scientist.json()["result"]] == ["P1"]


def test_walks_and_related_queries_read_in_parallel(client, world):
    queries = [
        ("problem", "RLQUERYincident.problem_id,>=1^ENDRLQUERY", ["P1"]),
        ("incident", "problem_id.assignment_group.manager.user_name=agent", ["mail", "vpn down"]),
        ("problem", "RLQUERYincident.problem_id,=0^ENDRLQUERY", ["P2"]),
    ]

    def run(i: int):
        table, query, expected = queries[i % len(queries)]
        return _titles(client, table, query), expected

    with ThreadPoolExecutor(max_workers=6) as pool:
        for got, expected in pool.map(run, range(18)):
            assert got == expected
