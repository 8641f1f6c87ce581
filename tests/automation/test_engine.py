"""Applying rules on domain events: effects, order, stop_processing, failures, and no endless loops."""

from __future__ import annotations

from sqlalchemy import func, select

from itsm_ai import database
from itsm_ai.audit.models import AuditEvent
from itsm_ai.automation import engine
from itsm_ai.automation.models import Rule
from itsm_ai.records import service as record_service
from itsm_ai.records.events import RecordEvent, publish
from itsm_ai.ticket.service import INCIDENT
from itsm_ai.webhooks.models import WebhookDelivery


def new_incident(db_session, **fields):
    data = INCIDENT.create_schema(short_description="VPN", **fields).model_dump()
    return record_service.create(db_session=db_session, spec=INCIDENT, data=data, actor=None)


def audit_of(api, inc: dict, action: str) -> list[dict]:
    return [a for a in api.get(f"incidents/{inc['id']}/audit") if a["action"] == action]


def set_field(field: str, value) -> list[dict]:
    return [{"type": "set_field", "field": field, "value": value}]


def when(field: str, op: str, value=None) -> dict:
    return {"field": field, "op": op} if value is None else {"field": field, "op": op, "value": value}


def test_created_rule_assigns_comments_and_is_audited(api):
    api.group("Network")
    rule = api.rule(
        name="Route network",
        conditions=when("category", "eq", "network"),
        actions=[
            {"type": "assign_group", "group": "Network"},
            {"type": "add_comment", "body": "Routed {number} to {assignment_group}"},
        ],
    )
    other = api.incident(category="hardware")
    assert other["assignment_group"] is None
    inc = api.incident(category="network")
    assert inc["assignment_group"] == "Network"  # the create response already shows the rule's change
    [applied] = audit_of(api, inc, "rule_applied")
    assert (
        applied["old_value"] == f"{rule['id']}: Route network" and applied["source"] == f"rule:{rule['id']}"
    )
    assert "assignment_group" in applied["new_value"]
    [update] = audit_of(api, inc, "update")
    assert (update["field"], update["new_value"], update["source"]) == (
        "assignment_group",
        "Network",
        "rule:1",
    )
    [note] = api.get(f"incidents/{inc['id']}/comments")
    assert note["visibility"] == "internal" and note["body"] == f"Routed {inc['number']} to Network"
    assert api.get(f"incidents/{other['id']}/comments") == []


def test_rules_run_in_order_and_stop_processing_stops_the_rest(api):
    api.group("Network")
    api.rule(
        order=20,
        conditions=when("category", "eq", "network"),
        actions=[{"type": "assign_group", "group": "Network"}],
    )
    api.rule(order=10, actions=set_field("category", "network"))
    api.rule(order=30, actions=set_field("urgency", 1))
    inc = api.incident()
    # order 10 sets the category the order-20 rule then matches on, and order 30 runs last.
    assert (inc["category"], inc["assignment_group"], inc["urgency"]) == ("network", "Network", 1)
    api.rule(
        order=15,
        stop_processing=True,
        conditions=when("short_description", "icontains", "vip"),
        actions=set_field("impact", 1),
    )
    vip = api.incident(short_description="VIP laptop broken")
    assert (vip["category"], vip["impact"], vip["assignment_group"], vip["urgency"]) == (
        "network",
        1,
        None,
        3,
    )


def test_state_changed_and_updated_triggers_compare_with_previous_values(api):
    api.rule(
        trigger="state_changed",
        conditions=when("state", "changed_to", "in_progress"),
        actions=[{"type": "add_comment", "body": "Work started"}],
    )
    api.rule(
        trigger="updated",
        conditions=when("impact", "changed_from", 3),
        actions=set_field("location", "escalated"),
    )
    inc = api.incident()
    path = f"incidents/{inc['id']}"
    api.patch(path, {"description": "more detail"}, as_="agent")
    assert api.get(f"{path}/comments") == []
    api.patch(path, {"state": "in_progress"}, as_="agent")
    assert [c["body"] for c in api.get(f"{path}/comments")] == ["Work started"]
    assert api.patch(path, {"impact": 2}, as_="agent")["location"] == "escalated"


def test_conditions_see_ml_suggestions_and_their_confidence(api, db_session):
    api.rule(
        trigger="updated",
        conditions=when("suggestions.fields.category.confidence", "gte", 0.9),
        actions=set_field("category", "network"),
    )
    obj = new_incident(db_session)
    obj.suggestions = {"fields": {"category": {"value": "network", "confidence": 0.95}}}
    record_service.update(
        db_session=db_session, spec=INCIDENT, obj=obj, data={"version": obj.version, "urgency": 2}, actor=None
    )
    assert obj.category == "network"
    low = new_incident(db_session)
    low.suggestions = {"fields": {"category": {"value": "network", "confidence": 0.4}}}
    record_service.update(
        db_session=db_session, spec=INCIDENT, obj=low, data={"version": low.version, "urgency": 2}, actor=None
    )
    assert low.category is None


def test_sla_events_trigger_rules(api, db_session):
    api.rule(trigger="sla_breach", actions=set_field("urgency", 1))
    obj = new_incident(db_session)
    publish(db_session, RecordEvent("sla_warning", "incident", obj, source="sla"))
    assert obj.urgency == 3
    publish(
        db_session,
        RecordEvent(
            "sla_breach", "incident", obj, source="sla", changes=[("sla_resolution", None, "breach")]
        ),
    )
    assert obj.urgency == 1


def test_linked_problem_and_webhook_action(api):
    api.rule(
        conditions=when("priority", "eq", 1),
        actions=[
            {"type": "create_linked_problem", "short_description_template": "Major: {short_description}"},
            {"type": "notify_webhook", "url": "http://127.0.0.1:9/hook", "fields": ["number", "priority"]},
        ],
    )
    inc = api.incident(impact=1, urgency=1, short_description="Core switch down")
    assert inc["problem"] is not None
    problem = api.get(f"problems/{inc['problem']}")
    assert problem["short_description"] == "Major: Core switch down" and problem["impact"] == 1
    assert api.incident()["problem"] is None
    with database.get_session() as s:
        [delivery] = s.scalars(select(WebhookDelivery).where(WebhookDelivery.rule_id.is_not(None))).all()
        assert delivery.url == "http://127.0.0.1:9/hook"
        assert delivery.event.payload == {
            "event": "ticket.rule_matched",
            "ticket": {"number": inc["number"], "priority": 1},
        }


def test_a_failing_rule_is_rolled_back_and_audited_and_the_write_succeeds(api):
    api.group("Temp")
    rule = api.rule(
        actions=[{"type": "assign_group", "group": "Temp"}, {"type": "add_comment", "body": "routed"}]
    )
    api.rule(actions=set_field("category", "still-runs"))
    with database.get_session() as s:
        s.get(Rule, rule["id"]).actions = [
            {"type": "assign_group", "group": "Gone"},
            {"type": "add_comment", "body": "x"},
        ]
    inc = api.incident()
    assert inc["assignment_group"] is None and inc["category"] == "still-runs"
    [failed] = audit_of(api, inc, "rule_failed")
    assert "Gone" in failed["new_value"]
    assert api.get(f"incidents/{inc['id']}/comments") == []


def test_two_rules_that_undo_each_other_stop_after_one_round(api):
    a = api.rule(
        trigger="updated", conditions=when("category", "eq", "a"), actions=set_field("category", "b")
    )
    b = api.rule(
        trigger="updated", conditions=when("category", "eq", "b"), actions=set_field("category", "a")
    )
    me = api.rule(trigger="updated", actions=set_field("subcategory", "touched"))
    inc = api.incident()
    after = api.patch(f"incidents/{inc['id']}", {"category": "a"}, as_="agent")
    assert after["category"] == "a" and after["subcategory"] == "touched"
    applied = [x["old_value"].split(":")[0] for x in audit_of(api, inc, "rule_applied")]
    assert sorted(applied) == sorted(str(r["id"]) for r in (a, b, me))


def test_depth_limit_stops_long_chains(api, monkeypatch):
    # Highest step first, so each step is reached only through the write of the step before (nesting deeper).
    for step in (3, 2, 1, 0):
        api.rule(
            trigger="updated",
            order=10 - step,
            conditions=when("category", "eq", f"c{step}"),
            actions=set_field("category", f"c{step + 1}"),
        )
    inc = api.incident()
    assert api.patch(f"incidents/{inc['id']}", {"category": "c0"}, as_="agent")["category"] == "c4"
    monkeypatch.setattr(engine, "MAX_DEPTH", 2)
    inc = api.incident()
    assert api.patch(f"incidents/{inc['id']}", {"category": "c0"}, as_="agent")["category"] == "c2"
    with database.get_session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.record_id == inc["id"], AuditEvent.action == "rule_applied")
        )
    assert count == 2
