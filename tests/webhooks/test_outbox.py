"""The outbox: every domain event is written in the writer's transaction, typed, in causal order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.records import service as record_service
from itsm_ai.records.events import RecordEvent, publish
from itsm_ai.ticket.service import CHANGE, INCIDENT
from itsm_ai.webhooks.models import OutboxEvent, WebhookDelivery
from itsm_ai.webhooks.service import matches


def outbox() -> list[OutboxEvent]:
    with database.get_session() as s:
        return list(s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def deliveries(sub_id: int) -> list[str]:
    with database.get_session() as s:
        rows = s.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == sub_id)
            .order_by(WebhookDelivery.id)
        )
        return [d.event.type for d in rows]


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "incident.created", True),
        (["incident.*"], "incident.state_changed", True),
        (["incident.*"], "problem.created", False),
        (["*.sla_breach"], "change.sla_breach", True),
        (["incident.created", "problem.*"], "incident.updated", False),
    ],
)
def test_event_type_patterns(patterns, event_type, expected):
    assert matches(patterns, event_type) is expected


def test_create_update_and_state_change_are_typed_with_the_api_dict_and_changes(api):
    api.group("Network")
    inc = api.incident(category="network")
    api.patch(f"incidents/{inc['id']}", {"assignment_group": "Network"}, as_="agent")
    api.patch(f"incidents/{inc['id']}", {"state": "in_progress"}, as_="agent")
    created, updated, moved = outbox()
    assert [created.type, updated.type, moved.type] == [
        "incident.created",
        "incident.updated",
        "incident.state_changed",
    ]
    assert len({created.event_id, updated.event_id, moved.event_id}) == 3 and len(created.event_id) == 36
    assert created.payload["record"]["number"] == inc["number"] and created.payload["actor"] == "agent"
    assert updated.payload["changes"] == [{"field": "assignment_group", "old": None, "new": "Network"}]
    assert updated.payload["record"]["assignment_group"] == "Network"  # references re-read after the change
    assert moved.payload["changes"][0] == {"field": "state", "old": "new", "new": "in_progress"}
    assert moved.payload["record"]["version"] == 3 and moved.payload["source"] == "api"


def test_a_refused_write_leaves_no_event(api, db_session):
    inc = api.incident()
    stale = api.client.patch(
        f"/api/v1/incidents/{inc['id']}",
        json={"version": 9, "urgency": 1},
        headers=api.users["agent"].headers,
    )
    assert stale.status_code == 409
    obj = record_service.get(db_session=db_session, spec=INCIDENT, ref=inc["id"])
    record_service.update(
        db_session=db_session, spec=INCIDENT, obj=obj, data={"version": obj.version, "urgency": 1}, actor=None
    )
    db_session.rollback()
    assert [e.type for e in outbox()] == ["incident.created"]


def test_rule_consequences_follow_their_cause_for_each_subscription(api):
    sub = api.post(
        "webhooks",
        {"name": "all", "url": "http://127.0.0.1:9/all", "event_types": ["incident.*", "problem.*"]},
    )
    narrow = api.post(
        "webhooks", {"name": "moves", "url": "http://127.0.0.1:9/m", "event_types": ["*.state_changed"]}
    )
    api.post("webhooks", {"name": "off", "url": "http://127.0.0.1:9/off", "enabled": False})
    api.rule(
        conditions={"field": "priority", "op": "eq", "value": 1},
        actions=[{"type": "create_linked_problem", "short_description_template": "Major {number}"}],
    )
    inc = api.incident(impact=1, urgency=1)
    # The problem and the link are written while the incident's "created" listeners run, yet go out after it.
    assert deliveries(sub["id"]) == ["incident.created", "problem.created", "incident.updated"]
    linked = outbox()[2]
    assert linked.payload["source"] == "rule:1" and linked.payload["record"]["problem"] == "PRB0000001"
    assert deliveries(narrow["id"]) == []
    api.patch(f"incidents/{inc['id']}", {"state": "in_progress"}, as_="agent")
    assert deliveries(narrow["id"]) == ["incident.state_changed"]
    with database.get_session() as s:
        assert s.scalar(select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == 3)) is None


def test_sla_approval_and_delete_events(api, db_session):
    inc = api.incident()
    obj = record_service.get(db_session=db_session, spec=INCIDENT, ref=inc["id"])
    publish(
        db_session,
        RecordEvent(
            "sla_breach", "incident", obj, source="sla", changes=[("sla_resolution", None, "breach")]
        ),
    )
    data = CHANGE.create_schema(short_description="Patch").model_dump()
    change = record_service.create(db_session=db_session, spec=CHANGE, data=data, actor=None)
    record_service.update(
        db_session=db_session,
        spec=CHANGE,
        obj=change,
        data={"version": change.version, "approval": "requested"},
        actor=None,
        source="approval",
    )
    record_service.delete(db_session=db_session, spec=INCIDENT, obj=obj, actor=None)
    db_session.commit()
    events = outbox()
    assert [e.type for e in events] == [
        "incident.created",
        "incident.sla_breach",
        "change.created",
        "change.approval_changed",
        "incident.deleted",
    ]
    assert events[1].payload["changes"] == [{"field": "sla_resolution", "old": None, "new": "breach"}]
    assert (
        events[3].payload["source"] == "approval" and events[4].payload["record"]["number"] == inc["number"]
    )
