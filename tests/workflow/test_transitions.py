"""The transition table: allowed moves, required fields, change types and error messages."""

import pytest

from itsm_ai.base.record_types import RecordType
from itsm_ai.base.states import ChangeType, IncidentState, OnHoldReason
from itsm_ai.workflow.transitions import (
    INITIAL_STATES,
    TRANSITIONS,
    TransitionError,
    allowed_next,
    check_transition,
    initial_state,
    is_terminal,
    requirements,
    states,
)

RESOLVED_FIELDS = {"resolution_code": "solved", "resolution_notes": "Reset the VPN token."}
PLANS = {"implementation_plan": "1. drain node 2. patch", "backout_plan": "restore snapshot"}


def test_table_covers_every_workflow_record_type_and_only_known_states():
    assert set(TRANSITIONS) == set(INITIAL_STATES)
    for record_type, table in TRANSITIONS.items():
        for source, targets in table.items():
            assert source not in targets, f"{record_type}: {source} lists itself"
            assert targets <= set(table), f"{record_type}: {source} -> unknown {targets - set(table)}"


def test_every_state_is_reachable_from_the_initial_state():
    for record_type, table in TRANSITIONS.items():
        seen, todo = set(), [INITIAL_STATES[record_type]]
        while todo:
            state = todo.pop()
            if state not in seen:
                seen.add(state)
                todo.extend(table[state])
        assert seen == set(table), f"{record_type}: unreachable {set(table) - seen}"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("new", ["in_progress", "on_hold", "resolved", "cancelled"]),
        ("in_progress", ["on_hold", "resolved", "cancelled"]),
        ("on_hold", ["in_progress", "resolved", "cancelled"]),
        ("resolved", ["in_progress", "closed"]),
        ("closed", []),
        ("cancelled", []),
    ],
)
def test_incident_allowed_next_in_lifecycle_order(state, expected):
    assert allowed_next(RecordType.incident, state) == expected


def test_incident_happy_path_with_hold_and_reopen():
    path = [
        ("new", "in_progress", {}),
        ("in_progress", "on_hold", {"on_hold_reason": OnHoldReason.awaiting_vendor}),
        ("on_hold", "in_progress", {}),
        ("in_progress", "resolved", RESOLVED_FIELDS),
        ("resolved", "in_progress", {}),
        ("in_progress", "resolved", RESOLVED_FIELDS),
        ("resolved", "closed", RESOLVED_FIELDS),
    ]
    for source, target, fields in path:
        check_transition("incident", source, target, fields)


def test_resolving_without_resolution_fields_names_them():
    with pytest.raises(TransitionError) as info:
        check_transition(
            "incident", "in_progress", "resolved", {"resolution_code": "solved", "resolution_notes": " "}
        )
    assert info.value.missing_fields == ["resolution_notes"]
    assert "resolution_notes" in str(info.value)
    assert info.value.allowed == ["on_hold", "resolved", "cancelled"]


def test_on_hold_needs_a_known_reason():
    with pytest.raises(TransitionError) as missing:
        check_transition("incident", "new", "on_hold", {})
    assert missing.value.missing_fields == ["on_hold_reason"]
    with pytest.raises(TransitionError) as invalid:
        check_transition("incident", "new", "on_hold", {"on_hold_reason": "lunch"})
    assert invalid.value.invalid_fields == ["on_hold_reason"]
    assert "awaiting_caller" in str(invalid.value)
    for reason in OnHoldReason:
        check_transition("incident", "in_progress", "on_hold", {"on_hold_reason": str(reason)})


def test_refused_move_names_the_allowed_next_states():
    with pytest.raises(TransitionError) as info:
        check_transition("incident", "new", "closed", RESOLVED_FIELDS)
    assert info.value.allowed == ["in_progress", "on_hold", "resolved", "cancelled"]
    assert "in_progress, on_hold, resolved, cancelled" in str(info.value)
    assert info.value.missing_fields == []


def test_final_states_refuse_everything():
    assert is_terminal("incident", "closed")
    assert not is_terminal("incident", "resolved")
    with pytest.raises(TransitionError, match="is final") as info:
        check_transition("incident", "closed", "in_progress", {})
    assert info.value.allowed == []


def test_same_state_is_a_no_op_even_without_required_fields():
    check_transition("incident", "on_hold", "on_hold", {})
    check_transition("change", "authorize", "authorize", {"change_type": "normal"})


def test_unknown_states_and_record_types_are_errors():
    with pytest.raises(TransitionError, match="unknown state 'open'"):
        check_transition("incident", "open", "closed", {})
    with pytest.raises(TransitionError, match="unknown state 'done'"):
        check_transition("incident", "new", "done", {})
    with pytest.raises(TransitionError, match="no workflow"):
        allowed_next("asset", "new")
    with pytest.raises(TransitionError, match="no workflow"):
        allowed_next("spaceship", "new")


def test_problem_lifecycle_and_known_error_needs_workaround():
    check_transition("problem", "new", "assess", {})
    check_transition("problem", "assess", "root_cause_analysis", {})
    with pytest.raises(TransitionError) as info:
        check_transition("problem", "root_cause_analysis", "known_error", {})
    assert info.value.missing_fields == ["workaround"]
    check_transition("problem", "root_cause_analysis", "known_error", {"workaround": "restart the spooler"})
    with pytest.raises(TransitionError):
        check_transition("problem", "known_error", "resolved", {"workaround": "x"})
    check_transition("problem", "known_error", "resolved", RESOLVED_FIELDS)
    check_transition("problem", "resolved", "closed", {})
    with pytest.raises(TransitionError):
        check_transition("problem", "new", "known_error", {"workaround": "x"})


@pytest.mark.parametrize(
    ("change_type", "expected"),
    [
        (ChangeType.standard, ["scheduled", "cancelled"]),
        (ChangeType.normal, ["assess", "cancelled"]),
        (ChangeType.emergency, ["authorize", "cancelled"]),
        (None, ["assess", "cancelled"]),
    ],
)
def test_change_draft_depends_on_change_type(change_type, expected):
    assert allowed_next("change", "draft", change_type=change_type) == expected


def test_standard_change_skips_assessment_and_approval():
    check_transition("change", "draft", "scheduled", {"change_type": "standard"})
    with pytest.raises(TransitionError) as info:
        check_transition("change", "draft", "assess", {"change_type": "standard"})
    assert info.value.allowed == ["scheduled", "cancelled"]


def test_normal_change_cannot_skip_to_scheduled():
    with pytest.raises(TransitionError) as info:
        check_transition("change", "draft", "scheduled", {"change_type": "normal", **PLANS}, approved=True)
    assert info.value.allowed == ["assess", "cancelled"]


@pytest.mark.parametrize(
    ("fields", "approved", "missing", "needs_approval"),
    [
        ({}, False, ["implementation_plan", "backout_plan"], True),
        (PLANS, False, [], True),
        ({"implementation_plan": "steps"}, True, ["backout_plan"], False),
        ({"backout_plan": "undo", "implementation_plan": ""}, True, ["implementation_plan"], False),
    ],
)
def test_normal_change_scheduling_needs_approval_and_both_plans(fields, approved, missing, needs_approval):
    with pytest.raises(TransitionError) as info:
        check_transition(
            "change", "authorize", "scheduled", {"change_type": "normal", **fields}, approved=approved
        )
    assert info.value.missing_fields == missing
    assert info.value.needs_approval is needs_approval
    if needs_approval:
        assert "approval" in str(info.value)


def test_normal_change_full_lifecycle():
    fields = {"change_type": "normal", **PLANS}
    for source, target in [
        ("draft", "assess"),
        ("assess", "authorize"),
        ("authorize", "scheduled"),
        ("scheduled", "implement"),
        ("implement", "review"),
        ("review", "closed"),
    ]:
        check_transition("change", source, target, fields, approved=True)
    with pytest.raises(TransitionError):
        check_transition("change", "implement", "cancelled", fields)


def test_emergency_change_needs_approval_but_not_plans():
    check_transition("change", "draft", "authorize", {"change_type": "emergency"})
    with pytest.raises(TransitionError) as info:
        check_transition("change", "authorize", "scheduled", {"change_type": "emergency"})
    assert info.value.needs_approval and info.value.missing_fields == []
    check_transition("change", "authorize", "scheduled", {"change_type": "emergency"}, approved=True)


def test_invalid_change_type_is_named():
    with pytest.raises(TransitionError) as info:
        check_transition("change", "draft", "assess", {"change_type": "urgent"})
    assert info.value.invalid_fields == ["change_type"]


def test_service_request_paths():
    check_transition("service_request", "submitted", "approval", {})
    with pytest.raises(TransitionError) as info:
        check_transition("service_request", "approval", "fulfilment", {})
    assert info.value.needs_approval
    check_transition("service_request", "approval", "fulfilment", {}, approved=True)
    check_transition("service_request", "approval", "rejected", {})
    check_transition("service_request", "submitted", "fulfilment", {})
    check_transition("service_request", "fulfilment", "closed", {})
    assert allowed_next("service_request", "rejected") == []


def test_knowledge_article_paths():
    assert allowed_next("knowledge_article", "review") == ["draft", "published"]
    check_transition("knowledge_article", "published", "retired", {})
    with pytest.raises(TransitionError):
        check_transition("knowledge_article", "draft", "published", {})
    with pytest.raises(TransitionError):
        check_transition("knowledge_article", "retired", "published", {})


def test_helpers():
    assert states("incident") == [str(s) for s in IncidentState]
    assert initial_state("change") == "draft"
    assert initial_state("service_request") == "submitted"
    assert requirements("incident", "on_hold", "resolved") == (["resolution_code", "resolution_notes"], False)
    assert requirements("change", "authorize", "scheduled", change_type="standard") == ([], False)
