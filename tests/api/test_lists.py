"""Lists under writes: cursors while rows come and go, totals that must not go stale, other record types."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import API, seed_incidents


@pytest.fixture
def seeded(make) -> list[dict[str, Any]]:
    return seed_incidents(make)


def _list(client, users, params=None, path="incidents", as_="agent") -> dict[str, Any]:
    r = client.get(f"{API}/{path}", params=params or {}, headers=users[as_].headers)
    assert r.status_code == 200, r.text
    return r.json()


def _numbers(page: dict[str, Any]) -> list[str]:
    return [i["number"] for i in page["items"]]


def _inc(*ns: int) -> set[str]:
    return {f"INC000000{n}" for n in ns}


def _walk(client, users, params: dict[str, Any], between=None) -> list[str]:
    """Follow next_cursor from the first page to the end; `between(i)` runs after page i."""
    seen, cursor, i = [], None, 0
    while True:
        page = _list(client, users, {**params, **({"cursor": cursor} if cursor else {})})
        seen.extend(_numbers(page))
        cursor = page["next_cursor"]
        if between:
            between(i)
        i += 1
        assert i < 50, "cursor walk does not end"
        if not cursor:
            return seen


def test_cursor_is_stable_while_rows_are_created(client, users, seeded, make):
    """New rows (opened now, i.e. newest) land before the cursor of a newest-first walk: never duplicates."""

    def add_two(i):
        if i < 2:
            make.incident(short_description=f"new during walk {i}")
            make.incident(short_description=f"another new during walk {i}")

    walked = _walk(client, users, {"limit": 2}, between=add_two)
    assert walked == [f"INC000000{n}" for n in range(6, 0, -1)]


def test_cursor_ascending_walk_picks_up_new_rows_once(client, users, seeded, make):
    def add(i):
        if i < 3:
            make.incident(short_description=f"new {i}")

    walked = _walk(client, users, {"sort": "number", "limit": 2}, between=add)
    assert len(walked) == len(set(walked))
    assert walked[:6] == [f"INC000000{n}" for n in range(1, 7)]
    assert set(walked) == {f"INC000000{n}" for n in range(1, 10)}


def test_cursor_survives_deletes_between_pages(client, users, seeded):
    def delete_next(i):
        if i == 0:  # page 1 had INC6, INC5; delete INC4 (next up) and INC1 (last)
            for ref in ("INC0000004", "INC0000001"):
                assert (
                    client.delete(f"{API}/incidents/{ref}", headers=users["admin"].headers).status_code == 204
                )

    walked = _walk(client, users, {"limit": 2}, between=delete_next)
    assert walked == ["INC0000006", "INC0000005", "INC0000003", "INC0000002"]


# ------------------------------------------------------------------------------------------------- totals


def test_total_tracks_creates_updates_and_deletes(client, users, seeded, make):
    admin = users["admin"].headers
    params = {"state": "new"}
    assert _list(client, users, params)["total"] == 4
    assert _list(client, users)["total"] == 6
    make.incident()  # new, joins the filter
    assert _list(client, users, params)["total"] == 5
    assert _list(client, users)["total"] == 7
    make.patch("incidents/INC0000001", {"state": "in_progress"})  # leaves the filter
    assert _list(client, users, params)["total"] == 4
    assert _list(client, users, {"state": "in_progress"})["total"] == 2
    assert client.delete(f"{API}/incidents/INC0000002", headers=admin).status_code == 204
    assert _list(client, users, params)["total"] == 3
    assert _list(client, users)["total"] == 6
    make.patch("incidents/INC0000004", {"category": "hardware"})
    assert _list(client, users, {"category": "hardware"})["total"] == 3
    assert _list(client, users, {"q": "printer"})["total"] == 2
    make.patch("incidents/INC0000004", {"short_description": "Printer offline"})
    assert _list(client, users, {"q": "printer"})["total"] == 3


def test_total_for_reference_filters_tracks_reassignment(client, users, seeded, make):
    assert _list(client, users, {"assignment_group": "Desk"})["total"] == 2
    make.patch("incidents/INC0000002", {"assignment_group": "Desk"})
    assert _list(client, users, {"assignment_group": "Desk"})["total"] == 3
    assert _list(client, users, {"assignment_group": "Network"})["total"] == 1


def test_total_after_group_rename(client, users, seeded, make):
    assert _list(client, users, {"assignment_group": "Desk"})["total"] == 2
    make.patch("groups/Desk", {"name": "Service Desk"}, as_="admin")
    page = _list(client, users, {"assignment_group": "Desk"})
    assert (page["total"], page["items"]) == (0, [])
    assert _list(client, users, {"assignment_group": "Service Desk"})["total"] == 2


def test_total_after_linked_problem_is_deleted(client, users, make):
    prb = make.problem()
    make.incident(problem=prb["number"])
    assert _list(client, users, {"problem": prb["number"]})["total"] == 1
    assert client.delete(f"{API}/problems/{prb['id']}", headers=users["admin"].headers).status_code == 204
    page = _list(client, users, {"problem": prb["number"]})
    assert (page["total"], page["items"]) == (0, [])


# ---------------------------------------------------------------------------------------- other record types


def test_asset_catalog_and_knowledge_lists(client, users, make):
    make.group("Desk")
    make.asset("web-01", ci_class="server", status="in_use", location="DC1", support_group="Desk")
    make.asset("app-01", ci_class="application", status="in_maintenance", location="DC2")
    make.asset("laptop-7", ci_class="computer", status="in_stock", owner="requester", serial_number="SN-7")
    assert _numbers(_list(client, users, {"sort": "name"}, path="assets")) == [
        "CI0000002",
        "CI0000003",
        "CI0000001",
    ]
    assert _numbers(_list(client, users, {"sort": "-name"}, path="assets")) == [
        "CI0000001",
        "CI0000003",
        "CI0000002",
    ]
    for params, expected in (
        ({"ci_class": "server"}, ["web-01"]),
        ({"status": ["in_stock", "in_maintenance"]}, ["app-01", "laptop-7"]),
        ({"owner": "requester"}, ["laptop-7"]),
        ({"support_group": "Desk"}, ["web-01"]),
        ({"location": "DC2"}, ["app-01"]),
        ({"serial_number": "SN-7"}, ["laptop-7"]),
        ({"q": "WEB"}, ["web-01"]),
    ):
        page = _list(client, users, params, path="assets")
        assert [a["name"] for a in page["items"]] == expected and page["total"] == len(expected), params

    make.catalog_item("Laptop", category="hardware", price="1000")
    make.catalog_item("Licence", category="software", price="50")
    make.catalog_item("Fax", category="hardware", active=False, price="10")
    assert [i["name"] for i in _list(client, users, {"sort": "price"}, path="catalog-items")["items"]] == [
        "Fax",
        "Licence",
        "Laptop",
    ]
    page = _list(client, users, {"category": "hardware", "active": True}, path="catalog-items")
    assert [i["name"] for i in page["items"]] == ["Laptop"] and page["total"] == 1
    assert _list(client, users, {"active": False}, path="catalog-items")["total"] == 1

    make.article(short_description="Draft one")
    make.published_article(short_description="Published one", category="howto")
    page = _list(client, users, {"state": "published"}, path="knowledge")
    assert [a["short_description"] for a in page["items"]] == ["Published one"] and page["total"] == 1
    assert _list(client, users, {"author": "agent"}, path="knowledge")["total"] == 2
    assert _list(client, users, {"category": "howto"}, path="knowledge")["total"] == 1
    assert _list(client, users, {"sort": "-updated_at"}, path="knowledge")["items"][0][
        "short_description"
    ] == ("Published one")
