"""Bad input answers 404 or 422 naming the field, never 500 (issue 13, defect 3): integers past 32 and 64
bits, Unicode digits in references, NUL characters in any string, datetimes that overflow when converted to
UTC, and an oversized `extra`. Nothing stored changes."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error

HUGE = "100000000000000000000"  # past 64 bits
PAST_32_BITS = str(2**31)


@pytest.mark.parametrize("value", [HUGE, PAST_32_BITS, "-1"])
@pytest.mark.parametrize("path", ["incidents", "users"])
def test_offset_out_of_range_is_422_naming_offset(client, users, path, value):
    r = client.get(f"{API}/{path}", params={"offset": value}, headers=users["admin"].headers)
    assert_error(r, 422, "offset")


@pytest.mark.parametrize("value", [HUGE, PAST_32_BITS])
def test_integer_filter_out_of_range_is_422(client, users, value):
    r = client.get(f"{API}/incidents", params={"priority": value}, headers=users["agent"].headers)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("ref", [HUGE, PAST_32_BITS, "0"])
@pytest.mark.parametrize("path", ["users", "incidents", "groups", "assets"])
def test_numeric_refs_out_of_range_are_404(client, users, path, ref):
    r = client.get(f"{API}/{path}/{ref}", headers=users["admin"].headers)
    assert_error(r, 404)


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("post", "approvals/{id}/approve", "approval_id"),
        ("post", "approvals/{id}/reject", "approval_id"),
        ("get", "attachments/{id}", "attachment_id"),
        ("get", "attachments/{id}/meta", "attachment_id"),
        ("delete", "attachments/{id}", "attachment_id"),
        ("post", "notifications/{id}/read", "notification_id"),
        ("get", "models/jobs/{id}", "job_id"),
        ("get", "chat/{id}", "conversation_id"),
    ],
)
@pytest.mark.parametrize("value", [HUGE, PAST_32_BITS])
def test_integer_path_params_out_of_range_are_422_naming_them(client, users, method, path, field, value):
    kwargs = {"json": {}} if method == "post" else {}
    r = client.request(
        method.upper(), f"{API}/{path.format(id=value)}", headers=users["admin"].headers, **kwargs
    )
    assert_error(r, 422, field)


@pytest.mark.parametrize(
    "ref", ["%C2%B2", "%D9%A3", "%EF%BC%93"]
)  # superscript two, Arabic-Indic three, fullwidth 3
def test_unicode_digits_never_resolve_to_an_id(client, users, make, ref):
    for _ in range(3):
        make.incident()
    r = client.get(f"{API}/incidents/{ref}", headers=users["agent"].headers)
    assert_error(r, 404)


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [
        ({"params": {"q": "a\x00b"}}, "q"),
        ({"params": {"category": "a\x00b"}}, "category"),
    ],
)
def test_nul_in_query_is_422_naming_the_field(client, users, request_kwargs, field):
    r = client.get(f"{API}/incidents", headers=users["agent"].headers, **request_kwargs)
    assert_error(r, 422, field)


def test_nul_in_a_form_field_is_422_naming_it(client):
    r = client.post(f"{API}/auth/token", data={"username": "a\x00b", "password": "x"})
    assert_error(r, 422, "username")


def test_nul_in_json_is_422_naming_the_field_and_nothing_changes(client, users, make):
    headers = users["agent"].headers
    created = make.incident()
    r = client.post(f"{API}/incidents", json={"short_description": "a\x00b"}, headers=headers)
    assert_error(r, 422, "short_description")
    r = client.patch(
        f"{API}/incidents/{created['number']}",
        json={"version": created["version"], "extra": {"note": ["ok", "bad\x00"]}},
        headers=headers,
    )
    assert_error(r, 422, "extra.note.1")
    stored = client.get(f"{API}/incidents/{created['number']}", headers=headers).json()
    assert stored["version"] == created["version"] and stored["extra"] == created["extra"]
    assert client.get(f"{API}/incidents", headers=headers).json()["total"] == 1


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_datetimes_that_overflow_in_utc_are_422(client, users, value):
    r = client.get(f"{API}/incidents", params={"opened_after": value}, headers=users["agent"].headers)
    assert_error(r, 422, "opened_after")


def test_extra_is_capped_and_named(client, users, make):
    from itsm_ai.config import get_settings

    limit = get_settings().max_extra_bytes
    headers = users["agent"].headers
    big = {"blob": "x" * limit}
    r = client.post(f"{API}/incidents", json={"short_description": "Big", "extra": big}, headers=headers)
    assert_error(r, 422, "extra")
    created = make.incident(extra={"blob": "x" * (limit // 2)})
    r = client.patch(
        f"{API}/incidents/{created['number']}",
        json={"version": created["version"], "extra": big},
        headers=headers,
    )
    assert_error(r, 422, "extra")
    assert (
        client.get(f"{API}/incidents/{created['number']}", headers=headers).json()["extra"]
        == created["extra"]
    )
