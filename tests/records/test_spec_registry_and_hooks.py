"""The spec registry is complete once the store is assembled, and a ticket write never runs without the
workflow engine's hooks (it would store a default priority without a word)."""

from __future__ import annotations

import pytest

from itsm_ai.base import spec_registry
from itsm_ai.records import service as record_service
from itsm_ai.ticket.models import IncidentCreate
from itsm_ai.ticket.service import INCIDENT, TICKET_SPECS, WORKFLOW_HOOKS


def test_every_feature_registered_its_specs():
    types = {spec.record_type for spec in spec_registry.all_specs()}
    assert types >= {
        *TICKET_SPECS,
        "asset",
        "catalog_item",
        "knowledge_article",
        "group",
        "sla_calendar",
        "sla_policy",
        "automation_rule",
        "webhook",
    }
    assert spec_registry.get("incident") is INCIDENT
    with pytest.raises(LookupError, match="no record spec for 'nothing'"):
        spec_registry.get("nothing")


def test_asking_for_every_spec_before_the_store_is_assembled_is_refused(monkeypatch):
    monkeypatch.setattr(spec_registry, "_complete", False)
    with pytest.raises(RuntimeError, match="import itsm_ai.all_models"):
        spec_registry.all_specs()


def test_the_workflow_hooks_are_attached_to_every_ticket_spec():
    for spec in TICKET_SPECS.values():
        assert WORKFLOW_HOOKS in spec.hooks.names() and WORKFLOW_HOOKS in spec.requires_hooks


def test_a_ticket_write_without_the_workflow_hooks_is_refused(db_session, monkeypatch):
    monkeypatch.setattr(INCIDENT.hooks, "create", {})
    monkeypatch.setattr(INCIDENT.hooks, "update", {})
    data = IncidentCreate(short_description="Printer", impact=1, urgency=1).model_dump()
    with pytest.raises(RuntimeError, match="'workflow'"):
        record_service.create(db_session=db_session, spec=INCIDENT, data=data, actor=None)
