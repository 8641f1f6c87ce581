"""Rule conditions: validation paths, every operator, nested paths and update triggers."""

import pytest

from itsm_ai.base.levels import Priority
from itsm_ai.base.states import IncidentState
from itsm_ai.workflow.conditions import ConditionError, evaluate, resolve, validate_condition

TICKET = {
    "number": "INC0000045",
    "state": IncidentState.in_progress,
    "priority": Priority.high,
    "short_description": "VPN drops every hour on the Lyon site",
    "category": "network",
    "tags": ["vpn", "Lyon"],
    "assigned_to": None,
    "description": "",
    # The shape triage stores: one entry per field under suggestions.fields.
    "suggestions": {
        "fields": {
            "category": {"value": "network", "confidence": 0.91},
            "assignment_group": {"confidence": 0.42},
        }
    },
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "priority", "op": "eq", "value": 2}, True),
        ({"field": "state", "op": "eq", "value": "in_progress"}, True),
        ({"field": "priority", "op": "ne", "value": 2}, False),
        ({"field": "category", "op": "in", "value": ["network", "hardware"]}, True),
        ({"field": "category", "op": "not_in", "value": ["network"]}, False),
        ({"field": "priority", "op": "lt", "value": 2}, False),
        ({"field": "priority", "op": "lte", "value": 2}, True),
        ({"field": "priority", "op": "gt", "value": 1}, True),
        ({"field": "priority", "op": "gte", "value": 3}, False),
        ({"field": "short_description", "op": "contains", "value": "VPN"}, True),
        ({"field": "short_description", "op": "contains", "value": "vpn"}, False),
        ({"field": "short_description", "op": "icontains", "value": "vpn"}, True),
        ({"field": "tags", "op": "contains", "value": "vpn"}, True),
        ({"field": "tags", "op": "icontains", "value": "LYON"}, True),
        ({"field": "number", "op": "starts_with", "value": "INC"}, True),
        ({"field": "short_description", "op": "matches", "value": r"every \w+ on"}, True),
        ({"field": "short_description", "op": "matches", "value": r"^on"}, False),
        ({"field": "assigned_to", "op": "is_empty"}, True),
        ({"field": "description", "op": "is_empty"}, True),
        ({"field": "no_such_field", "op": "is_empty"}, True),
        ({"field": "tags", "op": "is_not_empty"}, True),
        ({"field": "suggestions.fields.category.confidence", "op": "gte", "value": 0.9}, True),
        ({"field": "suggestions.fields.assignment_group.confidence", "op": "gte", "value": 0.9}, False),
        ({"field": "suggestions.fields.category.value", "op": "eq", "value": "network"}, True),
        ({"field": "suggestions.fields.missing.confidence", "op": "gte", "value": 0}, False),
        ({"field": "suggestions.category.confidence", "op": "gte", "value": 0}, False),
        ({"field": "tags.1", "op": "eq", "value": "Lyon"}, True),
        ({"field": "no_such_field", "op": "eq", "value": None}, True),
    ],
)
def test_operators(condition, expected):
    assert evaluate(condition, TICKET) is expected


def test_mismatched_types_do_not_match_instead_of_raising():
    assert not evaluate({"field": "category", "op": "gt", "value": 3}, TICKET)
    assert not evaluate({"field": "priority", "op": "gt", "value": "1"}, TICKET)
    assert not evaluate({"field": "priority", "op": "starts_with", "value": "2"}, TICKET)
    assert not evaluate({"field": "priority", "op": "contains", "value": 2}, TICKET)


def test_groups_nest():
    condition = {
        "all": [
            {"field": "priority", "op": "lte", "value": 2},
            {
                "any": [
                    {"field": "category", "op": "eq", "value": "hardware"},
                    {"field": "tags", "op": "contains", "value": "vpn"},
                ]
            },
            {"not": {"field": "state", "op": "eq", "value": "on_hold"}},
        ]
    }
    assert evaluate(condition, TICKET)
    assert not evaluate(condition, {**TICKET, "state": "on_hold"})
    assert not evaluate(condition, {**TICKET, "tags": []})


def test_empty_condition_is_always_true():
    assert evaluate({}, TICKET)
    assert evaluate(None, {})


def test_update_triggers_compare_with_previous():
    before = {**TICKET, "state": "new", "assignment_group": "Service Desk"}
    after = {**TICKET, "assignment_group": "Network"}
    assert evaluate({"field": "state", "op": "changed"}, after, before)
    assert evaluate({"field": "state", "op": "changed_to", "value": "in_progress"}, after, before)
    assert evaluate({"field": "state", "op": "changed_from", "value": "new"}, after, before)
    assert not evaluate({"field": "state", "op": "changed_from", "value": "on_hold"}, after, before)
    assert not evaluate({"field": "priority", "op": "changed"}, after, before)
    assert evaluate({"field": "assignment_group", "op": "changed_to", "value": "Network"}, after, before)
    # A created ticket has no previous values: nothing changed.
    assert not evaluate({"field": "state", "op": "changed"}, after)
    # A field that appears for the first time changed from None.
    assert evaluate({"field": "problem_id", "op": "changed_from", "value": None}, {"problem_id": "PRB1"}, {})


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ([], "conditions"),
        ({"all": []}, "conditions.all"),
        (
            {
                "all": [
                    {"field": "priority", "op": "eq", "value": 1},
                    {"field": "state", "op": "equals", "value": 1},
                ]
            },
            "conditions.all[1].op",
        ),
        ({"any": [{"not": {"field": "x", "op": "in", "value": "a"}}]}, "conditions.any[0].not.value"),
        ({"field": "priority", "op": "eq"}, "conditions.value"),
        ({"field": "priority", "op": "is_empty", "value": 1}, "conditions.value"),
        ({"field": "priority..x", "op": "eq", "value": 1}, "conditions.field"),
        ({"field": "x", "op": "matches", "value": "(unclosed"}, "conditions.value"),
        ({"field": "x", "op": "lt", "value": [1]}, "conditions.value"),
        ({"field": "x", "op": "eq", "value": 1, "extra": 2}, "conditions"),
        ({"all": [{"field": "x", "op": "eq", "value": 1}], "any": []}, "conditions"),
        ({"not": {}}, "conditions.not"),
    ],
)
def test_validation_names_the_bad_path(condition, path):
    with pytest.raises(ConditionError) as info:
        validate_condition(condition)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


def test_evaluate_refuses_malformed_conditions():
    with pytest.raises(ConditionError, match="unknown operator"):
        evaluate({"field": "x", "op": "like", "value": "a"}, TICKET)


def test_resolve_paths():
    assert resolve(TICKET, "suggestions.fields.category.confidence") == 0.91
    assert repr(resolve(TICKET, "suggestions.fields.category.confidence.x")) == "MISSING"
    assert repr(resolve(TICKET, "tags.9")) == "MISSING"
