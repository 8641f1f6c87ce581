"""Webhook subscriptions over the API: admins only, secret shown once, validation naming the field."""

from __future__ import annotations

from tests.api.conftest import assert_error


def test_admin_crud_and_the_secret_is_shown_once(api):
    created = api.post(
        "webhooks", {"name": "ops", "url": "http://127.0.0.1:8080/in", "event_types": ["incident.*"]}
    )
    assert len(created["secret"]) >= 32 and created["enabled"] is True
    path = f"webhooks/{created['id']}"
    read = api.get(path)
    assert "secret" not in read and read["event_types"] == ["incident.*"]
    assert api.get("webhooks")[0]["id"] == created["id"]
    changed = api.patch(path, {"enabled": False, "secret": "a-new-secret-of-16+", "event_types": ["*"]})
    assert (changed["enabled"], changed["event_types"], changed["version"]) == (False, ["*"], 2)
    api.call("DELETE", path, expect=204)
    assert_error(api.client.get(f"/api/v1/{path}", headers=api.users["admin"].headers), 404)


def test_only_admins(api):
    body = {"name": "x", "url": "http://127.0.0.1:1/x"}
    for role, code in (("agent", 403), ("data_scientist", 403), ("requester", 403)):
        headers = api.users[role].headers
        assert_error(api.client.post("/api/v1/webhooks", json=body, headers=headers), code)
        assert_error(api.client.get("/api/v1/webhooks", headers=headers), code)
    assert_error(api.client.get("/api/v1/webhooks"), 401)


def test_validation_names_the_field(api):
    post = lambda body: api.client.post("/api/v1/webhooks", json=body, headers=api.users["admin"].headers)  # noqa: E731
    assert_error(post({"name": "x", "url": "not a url"}), 422, "url")
    assert_error(
        post({"name": "x", "url": "http://h/x", "event_types": ["incident.*", "bad type!"]}),
        422,
        "event_types[1]",
    )
    assert_error(post({"name": "x", "url": "http://h/x", "event_types": []}), 422, "event_types")
    assert_error(post({"name": "x", "url": "http://h/x", "secret": "short"}), 422, "secret")
    api.post("webhooks", {"name": "x", "url": "http://h/x"})
    assert_error(post({"name": "x", "url": "http://h/y"}), 409, "name")
    stale = api.client.patch(
        "/api/v1/webhooks/1", json={"version": 5, "enabled": False}, headers=api.users["admin"].headers
    )
    assert_error(stale, 409, "version")
    r = api.client.post("/api/v1/webhooks/1/deliveries/9/redeliver", headers=api.users["admin"].headers)
    assert_error(r, 404)
