"""A request's answers are checked against its catalog item's questions by the API, not only the browser."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from itsm_ai.catalog.service import check_answers
from itsm_ai.errors import InvalidInputError
from tests.api.conftest import API, assert_error

QUESTIONS = [
    {
        "name": "application",
        "label": "Which application",
        "type": "choice",
        "required": True,
        "choices": ["Excel", "Visio"],
    },
    {"name": "seats", "label": "Seats", "type": "integer", "required": True},
    {"name": "notes", "label": "Notes", "type": "string"},
    {"name": "urgent", "label": "Urgent", "type": "boolean"},
]
GOOD = {"application": "Visio", "seats": 3, "urgent": False, "justification": "New starter"}


@pytest.fixture
def item(make):
    return make.catalog_item("Software licence", variables=QUESTIONS)


def test_check_answers_normalises_and_names_the_bad_key():
    assert check_answers(questions=QUESTIONS, answers={**GOOD, "notes": ""}) == GOOD
    assert check_answers(questions=QUESTIONS, answers={**GOOD, "seats": "4"})["seats"] == 4
    cases = [
        ({"seats": 3}, "variables.application"),  # required, missing
        ({**GOOD, "application": "Paint"}, "variables.application"),  # not a choice
        ({**GOOD, "seats": "three"}, "variables.seats"),
        ({**GOOD, "seats": True}, "variables.seats"),  # a bool is not a number
        ({**GOOD, "seats": 2**40}, "variables.seats"),
        ({**GOOD, "urgent": "yes"}, "variables.urgent"),
        ({**GOOD, "notes": "x" * 501}, "variables.notes"),
        ({**GOOD, "notes": ["a"]}, "variables.notes"),
        ({**GOOD, "justification": "x" * 2001}, "variables.justification"),
        ({**GOOD, "colour": "red"}, "variables.colour"),  # unknown question
    ]
    for answers, field in cases:
        with pytest.raises(InvalidInputError) as err:
            check_answers(questions=QUESTIONS, answers=answers)
        assert err.value.field == field, (answers, err.value.message)


def test_api_refuses_bad_answers_and_stores_nothing(client, users, item):
    h = users["requester"].headers
    bad = [
        ({"seats": 1}, "variables.application"),
        ({**GOOD, "application": "Paint"}, "variables.application"),
        ({**GOOD, "seats": "many"}, "variables.seats"),
        ({**GOOD, "notes": "n" * 600}, "variables.notes"),
        ({**GOOD, "hack": 1}, "variables.hack"),
    ]
    for answers, field in bad:
        r = client.post(
            f"{API}/requests", json={"catalog_item": item["name"], "variables": answers}, headers=h
        )
        assert_error(r, 422, field=field)
    r = client.post(f"{API}/requests", json={"catalog_item": item["name"]}, headers=h)
    assert_error(r, 422, field="variables.application")
    assert client.get(f"{API}/requests", headers=users["agent"].headers).json()["total"] == 0
    r = client.post(f"{API}/requests", json={"catalog_item": item["name"], "variables": GOOD}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["variables"] == GOOD


def test_changing_answers_is_checked_and_keeps_the_stored_ones(client, users, make, item):
    req = make.request(as_="requester", catalog_item=item["name"], variables=GOOD)
    h = users["agent"].headers
    body = {"version": req["version"], "variables": {**GOOD, "application": "Paint"}}
    assert_error(
        client.patch(f"{API}/requests/{req['number']}", json=body, headers=h), 422, "variables.application"
    )
    assert client.get(f"{API}/requests/{req['number']}", headers=h).json()["variables"] == GOOD
    # a change of other fields does not re-check answers stored before the item's questions changed
    updated = make.patch(
        f"catalog-items/{item['id']}",
        {"variables": [*QUESTIONS, {"name": "cost_centre", "label": "Cost centre", "required": True}]},
        as_="admin",
    )
    assert updated["variables"][-1]["name"] == "cost_centre"
    patched = make.patch(f"requests/{req['number']}", {"quantity": 2})
    assert patched["variables"] == GOOD and patched["quantity"] == 2


def test_request_without_item_keeps_free_answers(make):
    req = make.request(variables={"anything": "goes"})
    assert req["variables"] == {"anything": "goes"}


def test_access_other_requester_and_data_scientist(client, users, make, item):
    req = make.request(as_="requester", catalog_item=item["name"], variables=GOOD)
    other = users["requester2"].headers
    assert_error(client.get(f"{API}/requests/{req['number']}", headers=other), 404)
    body = {"version": req["version"], "variables": {**GOOD, "seats": 9}}
    assert client.patch(f"{API}/requests/{req['number']}", json=body, headers=other).status_code in (403, 404)
    ds = users["data_scientist"].headers
    r = client.post(f"{API}/requests", json={"catalog_item": item["name"], "variables": GOOD}, headers=ds)
    assert_error(r, 403)
    r = client.post(
        f"{API}/requests",
        json={"catalog_item": item["name"], "variables": GOOD, "caller": "requester"},
        headers=other,
    )
    assert_error(r, 403, field="caller")
    assert (
        client.get(f"{API}/requests/{req['number']}", headers=users["agent"].headers).json()["variables"]
        == GOOD
    )


def test_concurrent_orders_good_and_bad(client, users, item):
    h = users["requester"].headers

    def order(i: int):
        answers = GOOD if i % 2 == 0 else {**GOOD, "application": "Paint"}
        return client.post(
            f"{API}/requests", json={"catalog_item": item["name"], "variables": answers}, headers=h
        )

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(r.status_code for r in pool.map(order, range(8)))
    assert 500 not in codes
    assert codes.count(201) == 4 and codes.count(422) == 4, codes
    listed = client.get(f"{API}/requests", headers=users["agent"].headers).json()
    assert listed["total"] == 4 and all(r["variables"] == GOOD for r in listed["items"])
