"""The demo's open tickets that show each AI feature (written for this project), opened through the normal
create path, and the knowledge draft of the written cluster."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.demo.data import CHAT_KEY, CHAT_MESSAGES, DRAFT_CLUSTER_CATEGORY, SHOWCASE

log = logging.getLogger(__name__)


def showcase_opened(session: Session, key: str) -> bool:
    """True when the showcase ticket `key` exists (the chat one: alice's demo conversation has its ticket)."""
    from itsm_ai.chat.models import Conversation, Message
    from itsm_ai.ticket.models import Incident

    if key != CHAT_KEY:
        return session.scalar(select(Incident.id).where(Incident.correlation_id == key)) is not None
    stmt = (
        select(Conversation.id)
        .join(Message, Message.conversation_id == Conversation.id)
        # The demo's written offer is in no real conversation.
        .where(Conversation.ticket_number.isnot(None), Message.text == CHAT_MESSAGES[1][1])
    )
    return session.scalar(stmt.limit(1)) is not None


def open_from_chat(session: Session, user, title: str) -> Any:
    """The duplicate showcase ticket, opened as the chat opens one (its transcript in the description)."""
    from itsm_ai.chat.conversations import finish
    from itsm_ai.chat.enums import Outcome
    from itsm_ai.chat.models import Conversation, Message
    from itsm_ai.chat.tickets import open_ticket

    conversation = Conversation(user_id=user.id)
    session.add(conversation)
    for role, text in CHAT_MESSAGES:
        conversation.messages.append(Message(role=role, text=text))
    session.flush()
    obj = open_ticket(
        db_session=session,
        user=user,
        conversation=conversation,
        record_type="incident",
        short_description=title,
        description=title,
    )
    finish(conversation=conversation, outcome=Outcome.ticket_created)
    return obj


def showcase_pending() -> bool:
    """True while a showcase ticket is still to be opened."""
    from itsm_ai.database import get_session

    with get_session() as session:
        return not all(showcase_opened(session, key) for key, *_ in SHOWCASE)


def open_showcase(counts: Counter[str]) -> None:
    """Open the tickets that show each AI feature through the normal create path (engine listeners on, the
    demo models trained), then draft the article of the written cluster.

    One transaction per ticket, as when people open them: the index takes a ticket in after its commit, so
    the duplicate and major-incident checks of the next ones see it.
    """
    from itsm_ai.auth import service as user_service
    from itsm_ai.database import get_session, utcnow
    from itsm_ai.engine import install
    from itsm_ai.knowledge.drafting.flows import generate
    from itsm_ai.knowledge.drafting.schemas import DraftRequest
    from itsm_ai.knowledge.retrieval import service as retrieval
    from itsm_ai.records import service as records
    from itsm_ai.ticket.service import INCIDENT

    install()
    with get_session() as session:
        # The history was bulk-imported (no events): the index takes it in from the database first.
        service = retrieval.get_service()
        service.ensure_ready(session)
        service.catch_up(session, force=True)
    now = utcnow().replace(microsecond=0)
    for key, caller, title, text, minutes, impact, urgency, _ in SHOWCASE:
        with get_session() as session:
            if showcase_opened(session, key):
                continue
            user = user_service.get_by_username(db_session=session, username=caller)
            if key == CHAT_KEY:
                obj = open_from_chat(session, user, title)
            else:
                data = INCIDENT.create_schema(
                    short_description=title,
                    description=text,
                    caller=caller,
                    correlation_id=key,
                    opened_at=now - timedelta(minutes=minutes),
                    impact=impact,
                    urgency=urgency,
                ).model_dump()
                obj = records.create(db_session=session, spec=INCIDENT, data=data, actor=user)
            counts["incidents"] += 1
            log.debug("demo showcase %s: %s", obj.number, key)
    with get_session() as session:
        agent = user_service.get_by_username(db_session=session, username="agent")
        # Tickets a draft already came from are covered: a second load drafts nothing.
        drafted = generate(
            db_session=session,
            actor=agent,
            request=DraftRequest(category=DRAFT_CLUSTER_CATEGORY, max_drafts=1),
        )
        counts["knowledge_drafts"] += len(drafted["drafts"])
