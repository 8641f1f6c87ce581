"""Configuration records (groups, SLA calendars and policies, rules, webhooks) through the generic store: the
same list, filter and paging API as tickets, audit trails, versions under concurrency, no domain events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from itsm_ai import database
from tests.api.conftest import API, assert_error

ASSIGN = [{"type": "assign_group", "group": "Desk"}]


def _rule(make, name: str, record_type: str = "incident", **fields):
    body = {"name": name, "record_type": record_type, "trigger": "created", "actions": ASSIGN, **fields}
    return make.post("rules", body, "admin")


def test_group_list_pages_filters_and_searches(make, client, users):
    for name in ("Desk", "Network", "Database"):
        make.group(name, description=f"{name} team")
    make.patch("groups/Database", {"active": False}, as_="admin")
    page = make.get("groups", params={"limit": 2})
    assert [g["name"] for g in page["items"]] == ["Database", "Desk"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [g["name"] for g in make.get("groups", params={"limit": 2, "offset": 2})["items"]] == ["Network"]
    assert [g["name"] for g in make.get("groups", params={"active": "false"})["items"]] == ["Database"]
    assert make.get("groups", params={"q": "netw"})["total"] == 1
    assert [g["name"] for g in make.get("groups", params={"sort": "-name"})["items"]][0] == "Network"


def test_array_lists_page_by_query_and_count_in_a_header(make, client, users):
    make.group("Desk")
    _rule(make, "b-incident", order=20)
    _rule(make, "a-problem", record_type="problem", order=1)
    _rule(make, "c-incident", order=10)
    h = users["agent"].headers
    r = client.get(f"{API}/rules", headers=h)
    # The order rules run in: by record type, then order.
    assert [x["name"] for x in r.json()] == ["c-incident", "b-incident", "a-problem"]
    assert r.headers["x-total-count"] == "3"
    r = client.get(f"{API}/rules", params={"record_type": "incident", "limit": 1}, headers=h)
    assert [x["name"] for x in r.json()] == ["c-incident"] and r.headers["x-total-count"] == "2"
    r = client.get(f"{API}/rules", params={"sort": "name", "trigger": "created"}, headers=h)
    assert [x["name"] for x in r.json()] == ["a-problem", "b-incident", "c-incident"]
    cursor = client.get(f"{API}/rules", params={"sort": "id", "limit": 2}, headers=h)
    rest = client.get(
        f"{API}/rules",
        params={"sort": "id", "limit": 2, "cursor": cursor.headers["x-next-cursor"]},
        headers=h,
    )
    assert [x["name"] for x in cursor.json() + rest.json()] == ["b-incident", "a-problem", "c-incident"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("rules", {"sort": "colour"}, "sort"),
        ("rules", {"trigger": "sometimes"}, "trigger.0"),
        ("sla/policies", {"limit": 0}, "limit"),
        ("webhooks", {"enabled": "perhaps"}, "enabled.0"),
        ("groups", {"cursor": "not-a-cursor", "sort": "id"}, "cursor"),
        ("sla/calendars", {"bogus": 1}, "bogus"),
    ],
)
def test_bad_list_queries_are_422_naming_the_parameter(client, users, path, params, field):
    assert_error(client.get(f"{API}/{path}", params=params, headers=users["admin"].headers), 422, field)


def test_configuration_records_have_an_audit_trail_without_secrets(make, client, users):
    policy = make.post(
        "sla/policies", {"name": "Std", "response_target": 30, "resolution_target": 240}, "admin"
    )
    make.patch("sla/policies/Std", {"order": 5}, as_="admin")
    trail = make.get("sla/policies/Std/audit")
    assert [(e["action"], e["field"]) for e in trail][1:] == [("update", "order")]
    assert trail[0]["action"] == "create" and trail[0]["record_id"] == policy["id"]
    hook = make.post("webhooks", {"name": "ops", "url": "https://hooks.example.com/in"}, "admin")
    make.patch(f"webhooks/{hook['id']}", {"secret": "another-secret-of-16+"}, as_="admin")
    trail = make.get(f"webhooks/{hook['id']}/audit", as_="admin")
    assert hook["secret"] not in str(trail) and "another-secret" not in str(trail)
    assert [(e["field"], e["old_value"], e["new_value"]) for e in trail if e["action"] == "update"] == [
        ("secret", "***", "***")
    ]
    assert_error(client.get(f"{API}/webhooks/{hook['id']}/audit", headers=users["agent"].headers), 403)


def test_parallel_updates_of_one_version_keep_one_and_refuse_the_other(make, client, users):
    group = make.group("Desk", members=["agent"])
    h = users["admin"].headers

    def patch(description: str) -> int:
        body = {"version": group["version"], "description": description}
        return client.patch(f"{API}/groups/Desk", json=body, headers=h).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(patch, ["first", "second", "third", "fourth"]))
    assert codes == [200, 409, 409, 409]
    stored = make.get("groups/Desk")
    assert stored["version"] == group["version"] + 1 and stored["description"] in {
        "first",
        "second",
        "third",
        "fourth",
    }
    updates = [e for e in make.get("groups/Desk/audit") if e["action"] == "update"]
    assert [(e["field"], e["new_value"]) for e in updates] == [("description", stored["description"])]


def test_parallel_creates_of_one_name_keep_one(client, users):
    h = users["admin"].headers

    def create(_: int) -> int:
        return client.post(f"{API}/sla/calendars", json={"name": "Office"}, headers=h).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(create, range(4)))
    assert codes == [201, 409, 409, 409]
    r = client.get(f"{API}/sla/calendars", headers=h)
    assert [c["name"] for c in r.json()] == ["Office"] and r.headers["x-total-count"] == "1"


def test_configuration_changes_publish_no_domain_events(make):
    from itsm_ai.webhooks.models import OutboxEvent

    make.group("Desk")
    make.patch("groups/Desk", {"description": "front line"}, as_="admin")
    _rule(make, "route")
    make.post("webhooks", {"name": "ops", "url": "https://hooks.example.com/in"}, "admin")
    with database.get_session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_rules_and_webhooks_are_read_by_name_too(make, client, users):
    make.group("Desk")
    rule = _rule(make, "route")
    assert make.get("rules/route")["id"] == rule["id"]
    hook = make.post("webhooks", {"name": "ops", "url": "https://hooks.example.com/in"}, "admin")
    assert make.get("webhooks/ops", as_="admin")["id"] == hook["id"]
    assert_error(client.get(f"{API}/rules/nothing-here", headers=users["agent"].headers), 404)
