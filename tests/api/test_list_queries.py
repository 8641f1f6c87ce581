"""Read-only list queries over one seeded module database: filters on every indexed field, any-of repeats,
sorts, offset and cursor paging, text search, bad cursors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import API, assert_error, seed_incidents


@pytest.fixture(scope="module")
def api(shared_api):
    seed_incidents(shared_api.make)
    return shared_api


@pytest.fixture
def seeded(api):
    return None


@pytest.fixture
def client(api):
    return api.client


@pytest.fixture
def users(api):
    return api.users


def _list(client, users, params=None, path="incidents", as_="agent") -> dict[str, Any]:
    r = client.get(f"{API}/{path}", params=params or {}, headers=users[as_].headers)
    assert r.status_code == 200, r.text
    return r.json()


def _numbers(page: dict[str, Any]) -> list[str]:
    return [i["number"] for i in page["items"]]


def _inc(*ns: int) -> set[str]:
    return {f"INC000000{n}" for n in ns}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "new"}, _inc(1, 2, 4, 6)),
        ({"state": "in_progress"}, _inc(3)),
        ({"state": ["in_progress", "on_hold"]}, _inc(3, 5)),
        ({"priority": 1}, _inc(2)),
        ({"priority": [2, 3]}, _inc(1, 3)),
        ({"priority": 4}, _inc(4, 5, 6)),
        ({"impact": 1}, _inc(2, 3)),
        ({"urgency": 3}, _inc(4, 6)),
        ({"category": "network"}, _inc(2, 4)),
        ({"category": ["hardware", "access"]}, _inc(1, 5, 6)),
        ({"subcategory": "email"}, _inc(3)),
        ({"assignment_group": "Desk"}, _inc(1, 4)),
        ({"assignment_group": ["Desk", "Network"]}, _inc(1, 2, 3, 4)),
        ({"assignment_group": "Nobody's team"}, set()),
        ({"assignment_group": ["Nobody's team", "Network"]}, _inc(2, 3)),
        ({"assigned_to": "agent"}, _inc(1, 6)),
        ({"assigned_to": ["agent", "agent2"]}, _inc(1, 2, 6)),
        ({"caller": "requester"}, _inc(1, 3)),
        ({"caller": ["requester", "requester2"]}, _inc(1, 2, 3, 4)),
        ({"number": "INC0000004"}, _inc(4)),
        ({"number": ["INC0000004", "INC0000005"]}, _inc(4, 5)),
        ({"correlation_id": "ext-2"}, _inc(2)),
        ({"correlation_id": ["ext-1", "ext-2"]}, _inc(1, 2)),
        ({"opened_after": "2024-01-03T09:00:00Z"}, _inc(3, 4, 5, 6)),
        ({"opened_before": "2024-01-03T09:00:00Z"}, _inc(1, 2)),
        ({"opened_after": "2024-01-02T00:00:00Z", "opened_before": "2024-01-04T00:00:00Z"}, _inc(2, 3)),
        ({"opened_after": "2024-01-03T10:00:00+01:00"}, _inc(3, 4, 5, 6)),  # 09:00 UTC, inclusive
        ({"state": "new", "category": "network", "assignment_group": "Desk"}, _inc(4)),
    ],
)
def test_filters(client, users, seeded, params, expected):
    page = _list(client, users, params)
    assert set(_numbers(page)) == expected
    assert page["total"] == len(expected)
    assert len(page["items"]) == len(expected)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("printer", _inc(1, 6)),
        ("PRINTER", _inc(1, 6)),
        ("pRiNtEr JaM", _inc(1)),
        ("100%", _inc(3)),  # % is literal: not "100 then anything" (INC6 has "1000")
        ("%", _inc(3)),
        ("Mail_relay", _inc(4)),
        ("_", _inc(4)),  # _ is literal, not "any one character"
        ("l_r", _inc(4)),
        ("Mail%relay", set()),
        ("queue stuck", _inc(4)),  # the description is searched too
        ("inc0000005", _inc(5)),  # a number finds its ticket
        ("  vpn  ", _inc(2)),
        ("nothing like this", set()),
    ],
)
def test_text_search(client, users, seeded, q, expected):
    page = _list(client, users, {"q": q})
    assert set(_numbers(page)) == expected
    assert page["total"] == len(expected)


def test_text_search_combines_with_filters(client, users, seeded):
    page = _list(client, users, {"q": "printer", "assigned_to": "agent", "state": "new", "priority": 3})
    assert _numbers(page) == ["INC0000001"] and page["total"] == 1


SORTS = ("opened_at", "updated_at", "created_at", "priority", "state", "number", "id", "category")


@pytest.mark.parametrize("field", SORTS)
@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
def test_sort(client, users, seeded, field, desc):
    page = _list(client, users, {"sort": ("-" if desc else "") + field})
    items = page["items"]
    expected = sorted(items, key=lambda i: (i[field], i["id"]), reverse=desc)
    assert [i["id"] for i in items] == [i["id"] for i in expected]
    assert len(items) == 6
    if field in ("opened_at", "number", "id"):
        ascending = [f"INC000000{n}" for n in range(1, 7)]
        assert _numbers(page) == (ascending[::-1] if desc else ascending)


def test_default_sort_is_newest_opened_first(client, users, seeded):
    assert _numbers(_list(client, users)) == [f"INC000000{n}" for n in range(6, 0, -1)]


def test_priority_sort_orders_by_priority_then_id(client, users, seeded):
    assert _numbers(_list(client, users, {"sort": "priority"})) == [
        "INC0000002",
        "INC0000003",
        "INC0000001",
        "INC0000004",
        "INC0000005",
        "INC0000006",
    ]
    assert _numbers(_list(client, users, {"sort": "+priority"}))[0] == "INC0000002"


def test_limit_and_offset(client, users, seeded):
    page = _list(client, users, {"sort": "number", "limit": 2, "offset": 2})
    assert _numbers(page) == ["INC0000003", "INC0000004"]
    assert (page["total"], page["limit"], page["offset"]) == (6, 2, 2)
    assert _list(client, users, {"sort": "number", "offset": 6})["items"] == []
    assert _list(client, users, {"sort": "number", "offset": 6})["total"] == 6
    assert len(_list(client, users, {"limit": 500})["items"]) == 6


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


@pytest.mark.parametrize(
    "sort",
    [
        "-opened_at",
        "opened_at",
        "number",
        "-number",
        "priority",
        "-priority",
        "state",
        "-updated_at",
        "created_at",
        "id",
        "-id",
    ],
)
def test_cursor_walks_every_row_once(client, users, seeded, sort):
    expected = _numbers(_list(client, users, {"sort": sort}))
    walked = _walk(client, users, {"sort": sort, "limit": 2})
    assert walked == expected
    assert len(set(walked)) == 6


def test_cursor_walk_with_filter(client, users, seeded):
    walked = _walk(client, users, {"sort": "number", "limit": 1, "category": ["network", "hardware"]})
    assert walked == ["INC0000001", "INC0000002", "INC0000004", "INC0000006"]


def test_cursor_from_another_sort_is_422(client, users, seeded):
    cursor = _list(client, users, {"sort": "number", "limit": 2})["next_cursor"]
    assert cursor
    assert_error(
        client.get(
            f"{API}/incidents", params={"sort": "-number", "cursor": cursor}, headers=users["agent"].headers
        ),
        422,
        field="cursor",
    )
    assert_error(
        client.get(
            f"{API}/incidents", params={"sort": "category", "cursor": cursor}, headers=users["agent"].headers
        ),
        422,
        field="cursor",
    )


@pytest.mark.parametrize("value", ["garbage", {"dt": "2024-01-01T00:00:00"}, [1, 2]])
def test_tampered_cursor_is_422(client, users, seeded, value):
    import base64
    import json

    raw = json.dumps({"s": "-opened_at", "v": value, "id": 3}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = client.get(f"{API}/incidents", params={"cursor": cursor}, headers=users["agent"].headers)
    assert_error(r, 422, field="cursor")


def test_last_page_has_no_cursor(client, users, seeded):
    assert _list(client, users, {"limit": 10})["next_cursor"] is None
    assert _list(client, users, {"limit": 5})["next_cursor"] is not None
    assert _list(client, users, {"sort": "category", "limit": 2})["next_cursor"] is None  # nullable sort
