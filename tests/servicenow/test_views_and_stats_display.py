"""sysparm_view (the fields of a UI view; sysparm_fields wins) on every Table API method, and the Aggregate
API's group-by display values (sysparm_display_value=true|all): results, 400s naming the parameter, access
(another requester, a data scientist) and parallel readers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from itsm_ai.servicenow import codes
from tests.servicenow.conftest import assert_sn_error, basic

T = "/api/now/table"
S = "/api/now/stats"


def test_mobile_view_shows_its_fields_on_every_method(client, seeded):
    agent = basic("agent")
    mobile = set(codes.MOBILE_FIELDS["incident"])
    listed = client.get(f"{T}/incident", params={"sysparm_view": "mobile"}, headers=agent).json()["result"]
    assert len(listed) == 3 and all(set(r) == mobile for r in listed)
    sys_id = seeded["vpn down"]["sys_id"]
    one = client.get(f"{T}/incident/{sys_id}", params={"sysparm_view": "Mobile"}, headers=agent)
    assert set(one.json()["result"]) == mobile
    patched = client.patch(
        f"{T}/incident/{sys_id}", params={"sysparm_view": "mobile"}, json={"impact": 3}, headers=agent
    )
    assert set(patched.json()["result"]) == mobile
    created = client.post(
        f"{T}/incident", params={"sysparm_view": "mobile"}, json={"short_description": "x"}, headers=agent
    )
    assert created.status_code == 201 and set(created.json()["result"]) == mobile
    # desktop and both are the whole form; sysparm_fields wins over a view
    for view in ("desktop", "both", ""):
        full = client.get(f"{T}/incident/{sys_id}", params={"sysparm_view": view}, headers=agent)
        assert set(full.json()["result"]) == set(codes.INCIDENT.fields)
    chosen = client.get(
        f"{T}/incident/{sys_id}", params={"sysparm_view": "mobile", "sysparm_fields": "number"}, headers=agent
    )
    assert chosen.json()["result"] == {"number": seeded["vpn down"]["number"]}
    # every table has a mobile view of its own fields
    for table, fields in codes.MOBILE_FIELDS.items():
        assert set(fields) <= set(codes.TABLES[table].fields), table


def test_unknown_view_is_a_400_and_writes_nothing(client, seeded):
    agent = basic("agent")
    assert_sn_error(
        client.get(f"{T}/incident", params={"sysparm_view": "tablet"}, headers=agent), 400, "sysparm_view"
    )
    r = client.post(
        f"{T}/incident", params={"sysparm_view": "tablet"}, json={"short_description": "lost"}, headers=agent
    )
    assert_sn_error(r, 400, "sysparm_view")
    assert client.get(f"{T}/incident", headers=agent).headers["X-Total-Count"] == "3"


def test_views_keep_access_rules(client, seeded):
    mine = client.get(f"{T}/incident", params={"sysparm_view": "mobile"}, headers=basic("requester"))
    assert sorted(r["short_description"] for r in mine.json()["result"]) == ["printer jam", "vpn down"]
    other = seeded["mail"]["sys_id"]
    r = client.get(f"{T}/incident/{other}", params={"sysparm_view": "mobile"}, headers=basic("requester"))
    assert_sn_error(r, 404)
    scientist = client.get(
        f"{T}/incident", params={"sysparm_view": "mobile"}, headers=basic("data_scientist")
    )
    plain = client.get(f"{T}/incident", headers=basic("data_scientist"))
    assert scientist.status_code == plain.status_code
    if plain.status_code == 200:
        assert len(scientist.json()["result"]) == len(plain.json()["result"])


def _groups(client, who: str = "agent", **params) -> list[dict]:
    r = client.get(f"{S}/incident", params={"sysparm_count": "true", **params}, headers=basic(who))
    assert r.status_code == 200, r.text
    return [g["groupby_fields"] for g in r.json()["result"]]


def test_group_by_display_values(client, seeded):
    by = {"sysparm_group_by": "impact,state", "sysparm_order_by": "impact"}
    assert _groups(client, **by)[0] == [{"field": "impact", "value": "1"}, {"field": "state", "value": "1"}]
    assert _groups(client, sysparm_display_value="true", **by)[0] == [
        {"field": "impact", "value": "1 - High"},
        {"field": "state", "value": "New"},
    ]
    assert _groups(client, sysparm_display_value="all", **by)[0] == [
        {"field": "impact", "value": "1", "display_value": "1 - High"},
        {"field": "state", "value": "1", "display_value": "New"},
    ]
    # references show the referenced record's display value, looked up once per grouped reference
    callers = _groups(
        client, sysparm_group_by="caller_id", sysparm_display_value="all", sysparm_order_by="COUNT^DESC"
    )
    users = client.get(f"{T}/sys_user", params={"sysparm_fields": "sys_id,user_name"}, headers=basic("admin"))
    by_id = {u["sys_id"]: u["user_name"] for u in users.json()["result"]}
    assert [(g[0]["display_value"], by_id[g[0]["value"]]) for g in callers] == [
        ("requester", "requester"),
        ("requester2", "requester2"),
    ]
    # an empty reference groups under "" either way
    assignee = _groups(client, sysparm_group_by="assigned_to", sysparm_display_value="true")
    assert assignee == [[{"field": "assigned_to", "value": ""}]]
    priority = _groups(
        client, sysparm_group_by="priority", sysparm_display_value="true", sysparm_order_by="priority"
    )
    assert [g[0]["value"] for g in priority][0].endswith(("Critical", "High", "Moderate", "Low"))


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"sysparm_group_by": "impact", "sysparm_display_value": "sometimes"}, "sysparm_display_value"),
        ({"sysparm_group_by": "user_password"}, "user_password"),
        ({"sysparm_group_by": "nosuch", "sysparm_display_value": "true"}, "nosuch"),
    ],
)
def test_group_by_bad_input(client, seeded, params, mentions):
    table = "sys_user" if params.get("sysparm_group_by") == "user_password" else "incident"
    r = client.get(f"{S}/{table}", params={"sysparm_count": "true", **params}, headers=basic("admin"))
    assert_sn_error(r, 400, mentions)


def test_group_by_display_keeps_access_rules(client, seeded):
    # requester counts only their own incidents, so only themselves as caller
    mine = _groups(client, "requester", sysparm_group_by="caller_id", sysparm_display_value="true")
    assert mine == [[{"field": "caller_id", "value": "requester"}]]
    theirs = _groups(client, "requester2", sysparm_group_by="caller_id", sysparm_display_value="all")
    assert [g[0]["display_value"] for g in theirs] == ["requester2"]
    r = client.get(
        f"{S}/incident",
        params={"sysparm_count": "true", "sysparm_group_by": "caller_id", "sysparm_display_value": "true"},
        headers=basic("data_scientist"),
    )
    assert r.status_code in (200, 403)
    if r.status_code == 403:
        assert_sn_error(r, 403)


def test_parallel_stats_and_views(client, seeded):
    def run(i: int):
        if i % 2:
            return len(_groups(client, sysparm_group_by="caller_id", sysparm_display_value="all"))
        r = client.get(f"{T}/incident", params={"sysparm_view": "mobile"}, headers=basic("agent"))
        return len(r.json()["result"])

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sorted(set(pool.map(run, range(12)))) == [2, 3]
