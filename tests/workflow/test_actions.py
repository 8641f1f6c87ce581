"""Automation actions: JSON validation with paths, and planned effects that apply nothing."""

import copy

import pytest

from itsm_ai.base.levels import Priority
from itsm_ai.base.record_types import RecordType
from itsm_ai.workflow.actions import (
    ACTIONS,
    ActionError,
    AddComment,
    AssignGroup,
    AssignUser,
    CreateLinkedProblem,
    NotifyWebhook,
    SetField,
    parse_action,
    plan_actions,
    render_template,
)
from itsm_ai.workflow.effects import (
    CommentToAdd,
    CommentVisibility,
    FieldChange,
    RecordToCreate,
    WebhookToSend,
)

TICKET = {
    "number": "INC0000045",
    "record_type": "incident",
    "state": "in_progress",
    "priority": Priority.high,
    "short_description": "Printer offline on floor 3",
    "category": "hardware",
    "assignment_group": "Service Desk",
    "assigned_to": "alice",
    "suggestions": {"fields": {"category": {"value": "hardware", "confidence": 0.93}}},
}


def test_registry_holds_every_action_by_type():
    assert set(ACTIONS) == {
        "set_field",
        "assign_group",
        "assign_user",
        "add_comment",
        "notify_webhook",
        "create_linked_problem",
        "request_approval",
    }
    for name, cls in ACTIONS.items():
        assert cls.type == name


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "set_field", "field": "category", "value": "network"},
        {"type": "assign_group", "group": "Network", "keep_assignee": True},
        {"type": "assign_user", "user": "bob"},
        {"type": "add_comment", "body": "Hello {number}", "visibility": "public"},
        {
            "type": "notify_webhook",
            "url": "https://hooks.example.org/itsm",
            "method": "PUT",
            "headers": {"X-Team": "ops"},
            "fields": ["number", "priority"],
            "event": "incident.p1",
        },
        {
            "type": "create_linked_problem",
            "short_description_template": "Recurring: {short_description}",
            "copy_fields": ["category"],
        },
    ],
)
def test_json_round_trip(obj):
    action = parse_action(obj)
    assert action.to_json() == obj
    assert parse_action(action.to_json()) == action


def test_planning_does_not_touch_the_ticket():
    ticket = copy.deepcopy(TICKET)
    actions = [
        parse_action(o)
        for o in [
            {"type": "set_field", "field": "category", "value": "network"},
            {"type": "assign_group", "group": "Network"},
            {"type": "add_comment", "body": "x"},
            {"type": "notify_webhook", "url": "https://h.example.org/"},
            {"type": "create_linked_problem", "short_description_template": "x"},
        ]
    ]
    plan_actions(actions, ticket)
    assert ticket == TICKET


def test_set_field_plans_a_change_or_nothing():
    assert SetField("category", "network").plan(TICKET) == [FieldChange("category", "hardware", "network")]
    assert SetField("category", "hardware").plan(TICKET) == []
    assert SetField("priority", 2).plan(TICKET) == []  # Priority.high == 2
    effect = SetField("impact", 1).plan(TICKET)[0]
    assert effect.describe() == "set impact: None -> 1"


def test_assign_group_clears_the_assignee_unless_told_not_to():
    assert AssignGroup("Network").plan(TICKET) == [
        FieldChange("assignment_group", "Service Desk", "Network"),
        FieldChange("assigned_to", "alice", None),
    ]
    assert AssignGroup("Network", keep_assignee=True).plan(TICKET) == [
        FieldChange("assignment_group", "Service Desk", "Network")
    ]
    assert AssignGroup("Service Desk").plan(TICKET) == []
    assert AssignUser("bob").plan(TICKET) == [FieldChange("assigned_to", "alice", "bob")]


def test_comment_renders_dotted_placeholders_only():
    action = AddComment(
        "Auto-triaged {number} as {suggestions.fields.category.value} "
        "({suggestions.fields.category.confidence}){missing}"
    )
    assert action.plan(TICKET) == [
        CommentToAdd("Auto-triaged INC0000045 as hardware (0.93)", CommentVisibility.internal)
    ]
    # Format-string tricks are not evaluated.
    assert render_template("{number.__class__} {0} {priority!r}", TICKET) == " {0} {priority!r}"
    assert render_template("P{priority}", TICKET) == "P2"


def test_webhook_payload_selects_fields():
    action = NotifyWebhook.from_json(
        {
            "type": "notify_webhook",
            "url": "https://h.example.org/x",
            "fields": ["number", "priority", "suggestions.fields.category.value", "nope"],
        }
    )
    (effect,) = action.plan(TICKET)
    assert isinstance(effect, WebhookToSend)
    assert effect.method == "POST"
    assert effect.payload == {
        "event": "ticket.rule_matched",
        "ticket": {
            "number": "INC0000045",
            "priority": 2,
            "suggestions.fields.category.value": "hardware",
            "nope": None,
        },
    }


def test_create_linked_problem_once():
    action = CreateLinkedProblem("Recurring: {short_description}")
    (effect,) = action.plan(TICKET)
    assert isinstance(effect, RecordToCreate)
    assert effect.record_type is RecordType.problem
    assert effect.link_field == "problem_id"
    assert effect.fields["short_description"] == "Recurring: Printer offline on floor 3"
    assert effect.fields["description"] == "Created from INC0000045."
    assert effect.fields["priority"] == 2 and effect.fields["category"] == "hardware"
    assert action.plan({**TICKET, "problem_id": "PRB0001"}) == []


def test_plan_actions_chains_effects():
    actions = [
        AssignGroup("Network"),
        AssignGroup("Network"),
        SetField("category", "network"),
        CreateLinkedProblem("x"),
        CreateLinkedProblem("x"),
    ]
    effects = plan_actions(actions, TICKET)
    assert [e.kind for e in effects] == ["field_change", "field_change", "field_change", "create_record"]


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ("set_field", "actions[3]"),
        ({"type": "delete_everything"}, "actions[3].type"),
        ({"type": "set_field", "value": 1}, "actions[3].field"),
        ({"type": "set_field", "field": "state", "value": "closed"}, "actions[3].field"),
        ({"type": "set_field", "field": "a.b", "value": 1}, "actions[3].field"),
        ({"type": "set_field", "field": "x", "value": 1, "when": "now"}, "actions[3].when"),
        ({"type": "assign_group", "group": "  "}, "actions[3].group"),
        ({"type": "assign_group", "group": "Net", "keep_assignee": "yes"}, "actions[3].keep_assignee"),
        ({"type": "add_comment", "body": "x", "visibility": "secret"}, "actions[3].visibility"),
        ({"type": "notify_webhook", "url": "file:///etc/passwd"}, "actions[3].url"),
        ({"type": "notify_webhook", "url": "https://h.example.org", "method": "DELETE"}, "actions[3].method"),
        (
            {"type": "notify_webhook", "url": "https://h.example.org", "headers": {"a": 1}},
            "actions[3].headers",
        ),
        (
            {"type": "notify_webhook", "url": "https://h.example.org", "fields": ["ok", "bad name"]},
            "actions[3].fields[1]",
        ),
        ({"type": "create_linked_problem"}, "actions[3].short_description_template"),
        (
            {"type": "create_linked_problem", "short_description_template": "x", "copy_fields": ["id"]},
            "actions[3].copy_fields[0]",
        ),
    ],
)
def test_validation_names_the_bad_path(obj, path):
    with pytest.raises(ActionError) as info:
        parse_action(obj, path="actions[3]")
    assert info.value.path == path


def test_direct_construction_also_protects_state():
    with pytest.raises(ActionError):
        SetField("state", "closed")
