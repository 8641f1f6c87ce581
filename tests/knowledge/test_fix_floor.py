"""Suggested fixes below the relevance floor (setting knowledge_fix_min_score) are not shown: the similar
ticket stays listed, its resolution is not offered as a fix."""

from __future__ import annotations

import pytest

from tests.knowledge.helpers import OUTLOOK, VPN, service_incident, service_resolve

QUERY = "VPN drops every 10 minutes, and Outlook cannot connect to the mail server then"


def _outlook_hit(svc, db_session) -> dict:
    hits = svc.search(db_session, QUERY, k=5, states=["resolved"], min_score=0.0)
    return next(h for h in hits if h["short_description"] == OUTLOOK[0])


@pytest.fixture
def resolved(svc, db_session):
    outlook = service_incident(db_session, *OUTLOOK[:2])
    service_resolve(db_session, outlook, OUTLOOK[2])
    vpn = service_incident(db_session, *VPN[:2])
    service_resolve(db_session, vpn, VPN[2])
    return outlook


def test_a_fix_below_the_floor_is_listed_without_its_resolution(svc, db_session, resolved):
    svc.settings.knowledge_fix_min_score = 0.0
    hit = _outlook_hit(svc, db_session)
    assert hit["suggested_fix"] == OUTLOOK[2] and 0.0 < hit["score"] < 1.0
    svc.settings.knowledge_fix_min_score = round(hit["score"] + 0.01, 4)
    hidden = _outlook_hit(svc, db_session)
    assert hidden["number"] == hit["number"] and hidden["suggested_fix"] is None
    svc.settings.knowledge_fix_min_score = round(hit["score"] - 0.01, 4)
    assert _outlook_hit(svc, db_session)["suggested_fix"] == OUTLOOK[2]


def test_suggestions_on_create_and_the_chat_follow_the_floor(svc, db_session, resolved, users):
    from itsm_ai.auth import service as user_service
    from itsm_ai.chat.answers import find_answers

    agent = user_service.get_by_username(db_session=db_session, username="agent")
    svc.settings.knowledge_fix_min_score = 1.0  # nothing is relevant enough
    created = service_incident(db_session, QUERY)
    similar = created.suggestions["similar"]
    assert similar and all(item["suggested_fix"] is None for item in similar)
    assert find_answers(db_session=db_session, user=agent, text=QUERY) == []
    svc.settings.knowledge_fix_min_score = 0.0
    answers = find_answers(db_session=db_session, user=agent, text=QUERY)
    assert {a["suggested_fix"] for a in answers} >= {OUTLOOK[2]}


def test_the_default_floor_is_a_documented_setting():
    from itsm_ai.config import Settings

    field = Settings.model_fields["knowledge_fix_min_score"]
    assert field.default == 0.45 and "0.42" in field.description
    with pytest.raises(ValueError, match="knowledge_fix_min_score"):
        Settings(knowledge_fix_min_score=1.5)
