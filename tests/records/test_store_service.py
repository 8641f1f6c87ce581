"""The generic store service without any listener: what it hands to listeners and callers after a write."""

from __future__ import annotations

import pytest

from itsm_ai.errors import ConflictError, InvalidInputError, NotFoundError
from itsm_ai.records import events
from itsm_ai.records import service as record_service
from itsm_ai.ticket.models import IncidentCreate
from itsm_ai.ticket.service import INCIDENT


@pytest.fixture
def store(db_session, monkeypatch):
    """An agent, a group and an incident, with the engine's listeners switched off."""
    from itsm_ai.auth import service as user_service
    from itsm_ai.auth.models import UserCreate
    from itsm_ai.base.roles import Role
    from itsm_ai.group.models import GroupCreate
    from itsm_ai.group.service import GROUP

    monkeypatch.setattr(events, "_listeners", [])
    agent = user_service.create(db_session=db_session, user_in=UserCreate(username="agent", role=Role.agent))
    record_service.create(
        db_session=db_session, spec=GROUP, data=GroupCreate(name="Desk").model_dump(), actor=agent
    )
    inc = record_service.create(
        db_session=db_session,
        spec=INCIDENT,
        data=IncidentCreate(short_description="Printer").model_dump(),
        actor=agent,
    )
    return agent, inc


def test_get_by_id_and_number(db_session, store):
    _, inc = store
    assert record_service.get(db_session=db_session, spec=INCIDENT, ref=inc.id) is inc
    assert record_service.get(db_session=db_session, spec=INCIDENT, ref=" inc0000001 ") is inc
    with pytest.raises(NotFoundError):
        record_service.get(db_session=db_session, spec=INCIDENT, ref="INC0000002")


def test_resolve_ref_names_the_field(db_session, store):
    with pytest.raises(InvalidInputError) as info:
        record_service.resolve_ref(
            db_session=db_session, spec=INCIDENT, field="assignment_group", value="Nope"
        )
    assert info.value.field == "assignment_group" and "Nope" in info.value.message
    assert record_service.resolve_ref(db_session=db_session, spec=INCIDENT, field="caller", value="") is None


def test_stale_version_raises_conflict_and_changes_nothing(db_session, store):
    agent, inc = store
    with pytest.raises(ConflictError) as info:
        record_service.update(
            db_session=db_session, spec=INCIDENT, obj=inc, data={"version": 99, "urgency": 1}, actor=agent
        )
    assert info.value.field == "version" and info.value.details == {"current_version": 1}
    assert (inc.urgency, inc.version) == (3, 1)


def test_update_without_version_is_invalid(db_session, store):
    agent, inc = store
    with pytest.raises(InvalidInputError) as info:
        record_service.update(db_session=db_session, spec=INCIDENT, obj=inc, data={"urgency": 1}, actor=agent)
    assert info.value.field == "version"


def test_updated_reference_is_visible_right_after_update(db_session, store):
    agent, inc = store
    seen = []
    events.subscribe(
        lambda session, event: seen.append(record_service.display(event.record, INCIDENT, "assignment_group"))
    )
    record_service.update(
        db_session=db_session,
        spec=INCIDENT,
        obj=inc,
        data={"version": inc.version, "assignment_group": "Desk", "assigned_to": "agent"},
        actor=agent,
    )
    shown = record_service.serialize(INCIDENT, inc)
    assert (shown["assignment_group"], shown["assigned_to"]) == ("Desk", "agent")
    assert seen == ["Desk"]
