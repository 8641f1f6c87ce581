"""The rules page's actions builder in headless Chromium: an admin builds a rule's actions with the
builder only (assign a group, raise the urgency; a third row added, moved and removed), sees the API's 422
naming the bad action next to the form, previews the rule (dry run), saves it and finds it listed. Shot at
1280 and 375 px, no sideways scroll, axe-core clean."""

from __future__ import annotations

import json
import re

import pytest

from tests.ui.test_admin_e2e import _check, _login, server, shots  # noqa: F401 - fixtures
from tests.ui.test_e2e import browser  # noqa: F401 - a fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _actions(page) -> list[dict]:
    return json.loads(page.locator("#nr-actions").input_value())


def test_admin_builds_a_rule_with_the_actions_builder(server, browser, shots):  # noqa: F811
    base = server
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = _login(context, base, "admin")
    page.goto(f"{base}/console/rules")
    page.get_by_label("Name", exact=True).fill("Printers: network desk, high priority")
    page.get_by_label("Record type").select_option("incident")

    # Row 1 starts as "assign to a group": pick the seeded group.
    first = page.locator("#action-rows > li").nth(0)
    first.get_by_label("Group", exact=True).select_option("Network")
    assert _actions(page) == [{"type": "assign_group", "group": "Network", "keep_assignee": False}]

    # Row 2: raise the priority: the urgency from its known levels (the matrix turns it into a priority).
    page.get_by_role("button", name="Add an action").click()
    second = page.locator("#action-rows > li").nth(1)
    second.get_by_label("Action type").select_option("set_field")
    second.get_by_label("Field", exact=True).select_option("urgency")
    second.get_by_label("New urgency").select_option("1")

    # Row 3: an approval, which incidents do not take: the API's 422 names the action, shown by the form.
    page.get_by_role("button", name="Add an action").click()
    third = page.locator("#action-rows > li").nth(2)
    third.get_by_label("Action type").select_option("request_approval")
    third.get_by_label("Approver").select_option("group:Network")
    assert _actions(page)[2] == {"type": "request_approval", "group": "Network"}
    page.get_by_role("button", name="Preview (dry run)").click()
    status = page.locator("#rule-form > p.status")
    page.locator("#rule-form > p.status.error").wait_for()
    assert "actions[2]" in status.inner_text() and "approvals" in status.inner_text(), status.inner_text()
    _check(page, shots, "20-rule-actions-three")

    # Reorder: the approval moves up to second place, then is removed; the focus stays in the builder.
    page.get_by_role("button", name="Move up, action 3").click()
    assert [a["type"] for a in _actions(page)] == ["assign_group", "request_approval", "set_field"]
    assert page.get_by_role("button", name="Move up, action 1").is_disabled()
    page.get_by_role("button", name="Remove, action 2").click()
    assert _actions(page) == [
        {"type": "assign_group", "group": "Network", "keep_assignee": False},
        {"type": "set_field", "field": "urgency", "value": 1},
    ]
    assert page.locator("#action-rows > li").count() == 2

    # Preview (dry run) with no conditions: every recent ticket matches and gets both changes.
    page.get_by_role("button", name="Preview (dry run)").click()
    preview = page.locator("#dry-new")
    preview.get_by_text(re.compile(r"Tried on 50 tickets: 50 would match")).wait_for()
    assert "'Network'" in preview.inner_text() and "urgency" in preview.inner_text()
    _check(page, shots, "21-rule-actions-preview")

    with page.expect_navigation():
        page.get_by_role("button", name="Create rule").click()
    rule = page.locator("#rule-table tr", has_text="Printers: network desk, high priority")
    assert rule.count() == 1 and rule.locator(".badge.applied").count() == 1
    rule.get_by_role("button", name="Dry run").click()
    rule.get_by_text(re.compile(r"would match")).wait_for()
    _check(page, shots, "22-rule-actions-saved")
    context.close()
