"""Lifecycles enforced through the API: refused moves name the allowed states, required fields are named."""


def _create(client, headers, path="incidents", **body):
    body.setdefault("short_description", "Outlook keeps asking for the password")
    r = client.post(f"/api/v1/{path}", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _patch(client, headers, record, path="incidents", **changes):
    return client.patch(
        f"/api/v1/{path}/{record['number']}", json={"version": record["version"], **changes}, headers=headers
    )


def test_refused_move_names_allowed_states_and_changes_nothing(client, users):
    h = users["agent"].headers
    inc = _create(client, h)
    r = _patch(client, h, inc, state="closed")
    assert r.status_code == 409
    err = r.json()["error"]
    assert "in_progress" in err["message"] and err["allowed"] == [
        "in_progress",
        "on_hold",
        "resolved",
        "cancelled",
    ]
    again = client.get(f"/api/v1/incidents/{inc['id']}", headers=h).json()
    assert again["state"] == "new" and again["version"] == inc["version"]
    trail = client.get(f"/api/v1/incidents/{inc['id']}/audit", headers=h).json()
    store_events = [e for e in trail if not e["action"].startswith("sla_")]
    assert len(store_events) == 1


def test_resolve_needs_resolution_fields_then_reopen_counts(client, users):
    h = users["agent"].headers
    inc = _create(client, h)
    r = _patch(client, h, inc, state="resolved")
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "resolution_code"
    r = _patch(
        client, h, inc, state="resolved", resolution_code="solved", resolution_notes="Reset the profile"
    )
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["resolved_at"] is not None
    r = _patch(client, h, resolved, state="in_progress")
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["reopen_count"] == 1 and reopened["resolved_at"] is None


def test_on_hold_needs_reason_and_leaving_clears_it(client, users):
    h = users["agent"].headers
    inc = _create(client, h)
    assert _patch(client, h, inc, state="on_hold").status_code == 422
    held = _patch(client, h, inc, state="on_hold", on_hold_reason="awaiting_vendor").json()
    assert held["on_hold_reason"] == "awaiting_vendor"
    back = _patch(client, h, held, state="in_progress").json()
    assert back["state"] == "in_progress" and back["on_hold_reason"] is None


def test_normal_change_cannot_be_scheduled_without_approval_and_plans(client, users):
    h = users["agent"].headers
    chg = _create(client, h, "changes", short_description="Upgrade the mail relay", change_type="normal")
    assert chg["number"].startswith("CHG")
    r = _patch(client, h, chg, "changes", state="scheduled")
    assert r.status_code == 409  # a normal change goes through assess and authorize first
    chg = _patch(client, h, chg, "changes", state="assess").json()
    chg = _patch(client, h, chg, "changes", state="authorize").json()
    r = _patch(client, h, chg, "changes", state="scheduled", implementation_plan="x", backout_plan="y")
    assert r.status_code in (409, 422) and "approval" in r.json()["error"]["message"]


def test_standard_change_goes_straight_to_scheduled(client, users):
    h = users["agent"].headers
    chg = _create(client, h, "changes", short_description="Add a DNS record", change_type="standard")
    r = _patch(client, h, chg, "changes", state="scheduled")
    assert r.status_code == 200, r.text


def test_article_is_reviewed_before_publication(client, users):
    h = users["agent"].headers
    kb = _create(client, h, "knowledge", short_description="Reset your VPN token", text="Open the portal ...")
    assert kb["state"] == "draft" and kb["author"] == "agent"
    assert _patch(client, h, kb, "knowledge", state="published").status_code == 409
    kb = _patch(client, h, kb, "knowledge", state="review").json()
    kb = _patch(client, h, kb, "knowledge", state="published").json()
    assert kb["state"] == "published" and kb["published_at"] is not None
