"""The admin condition builder and calendar week over TestClient: the SLA and rules pages carry one shared
builder (fields, operators, known values with labels, a hidden field the script fills), the calendar form a
row per weekday with time inputs and a time-zone select; the catalog offers exactly the operators the
condition core accepts, and every condition the rows can produce passes the core's validation."""

from __future__ import annotations

import itertools
import json
import re
from html import unescape

import pytest

from itsm_ai.ui import condition_fields
from itsm_ai.workflow.conditions import OPS, ConditionError, validate_condition
from tests.ui.conftest import login


def _catalog(html: str) -> dict:
    found = re.search(r"data-catalog='([^']*)'", html)
    assert found, "no condition builder on the page"
    return json.loads(unescape(found.group(1)))


def test_operator_labels_cover_the_condition_core():
    assert set(condition_fields.OPERATOR_LABELS) == OPS


def test_sla_page_has_the_condition_builder_and_the_week(client, users):
    login(client, "admin")
    html = client.get("/console/sla").text
    assert 'name="condition" data-type="json" data-cond-value' in html and 'type="hidden"' in html
    assert "Applies to tickets where all of these hold" in html and "Add condition" in html
    assert "Advanced: JSON" in html and "any of" in html
    assert '<textarea id="np-cond"' not in html and "Condition (JSON" not in html
    catalog = _catalog(html)
    fields = {f["name"]: f for f in catalog["fields"]}
    assert "icontains" not in fields["priority"]["ops"] and "icontains" in fields["category"]["ops"]
    assert fields["priority"]["values"] == [
        [1, "1 - Critical"],
        [2, "2 - High"],
        [3, "3 - Moderate"],
        [4, "4 - Low"],
    ]
    assert {"record_type", "category", "assignment_group", "service", "caller_organisation"} <= set(fields)
    # A policy is picked for a ticket as it stands: no "changed" operators.
    assert {op for op, _ in catalog["operators"]} == OPS - {"changed", "changed_to", "changed_from"}
    # The week: a row per weekday, time inputs with labels, weekdays open and the weekend closed.
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        assert f"Open on {day}" in html and f"{day} opens" in html and f"{day} closes" in html
    assert html.count('type="time"') == 14
    assert re.search(r'id="nc-mon-open" data-day-open checked', html)
    assert re.search(r'id="nc-sat-open" data-day-open>', html)
    assert 'name="hours" data-type="json" data-hours-value' in html
    assert '<select id="nc-tz" name="timezone">' in html and "<option>Europe/London</option>" in html
    assert 'name="extra_holidays" data-type="list"' in html and 'name="subdiv"' in html
    assert '<script src="/static/builders.js" defer></script>' in html


def test_rules_page_uses_the_same_builder_with_every_operator(client, users, make):
    make.group("Network")
    login(client, "admin")
    html = client.get("/console/rules").text
    assert html.count("data-condition-builder") == 1
    assert 'name="conditions" data-type="json" data-cond-value' in html
    assert "Conditions (JSON)" not in html
    # The actions field is left as it was (another form fills it).
    assert 'name="actions"' in html
    catalog = _catalog(html)
    assert {op for op, _ in catalog["operators"]} == OPS
    fields = {f["name"]: f for f in catalog["fields"]}
    assert ["Network", "Network"] in fields["assignment_group"]["values"]
    assert "short_description" in fields and "suggestions.fields.category.confidence" in fields


def test_builder_script_is_served(client):
    r = client.get("/static/builders.js")
    assert r.status_code == 200 and "writeCondition" in r.text


@pytest.mark.parametrize("page", ["/console/sla", "/console/rules"])
def test_every_row_the_builder_can_make_is_a_valid_condition(client, users, make, page):
    """What the script produces for each field and operator (a known value, a list of them, or none)."""
    make.group("Network")
    login(client, "admin")
    catalog = _catalog(client.get(page).text)
    for field, (op, _) in itertools.product(catalog["fields"], catalog["operators"]):
        if op not in field["ops"]:
            continue
        leaf = {"field": field["name"], "op": op}
        if op not in catalog["no_value"]:
            sample = field["values"][0][0] if field["values"] else "x"
            leaf["value"] = [sample] if op in catalog["list_ops"] else sample
        try:
            validate_condition({"all": [leaf, leaf]})
        except ConditionError as exc:
            raise AssertionError(f"{leaf}: {exc}") from None
