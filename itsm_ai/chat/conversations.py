"""Virtual agent conversations: reading, starting and listing them, appending messages, confirming intents,
recording outcomes and ending the ones nobody answered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.auth.models import User
from itsm_ai.base.roles import Role as UserRole
from itsm_ai.chat.enums import ConversationState, Outcome, Role
from itsm_ai.chat.models import Conversation, Message
from itsm_ai.config import get_settings
from itsm_ai.database import get_session, utcnow
from itsm_ai.errors import NotFoundError

TRANSCRIPT_MAX = 20_000


def get_conversation(*, db_session: Session, conversation_id: int, user: User) -> Conversation:
    """A conversation the user may see: their own; agents and admins may read any. Else 404."""
    conv = db_session.get(Conversation, conversation_id)
    staff = user.role in (UserRole.agent, UserRole.admin)
    if conv is None or (conv.user_id != user.id and not staff):
        raise NotFoundError(f"conversation {conversation_id} not found", field="conversation_id")
    return conv


def get_own_conversation(*, db_session: Session, conversation_id: int, user: User) -> Conversation:
    """A conversation the user may continue: only their own (staff cannot speak for someone else)."""
    conv = db_session.get(Conversation, conversation_id)
    if conv is None or conv.user_id != user.id:
        raise NotFoundError(f"conversation {conversation_id} not found", field="conversation_id")
    return conv


def start_conversation(*, db_session: Session, user: User) -> Conversation:
    """A new, empty conversation for the user."""
    conv = Conversation(user_id=user.id, state=ConversationState.open, context={})
    db_session.add(conv)
    db_session.flush()
    return conv


def list_conversations(*, db_session: Session, user: User, limit: int = 50) -> list[Conversation]:
    """The user's own conversations, newest first."""
    stmt = (
        select(Conversation)
        .where(Conversation.user_id == user.id)
        .order_by(Conversation.started_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(db_session.scalars(stmt))


def add_message(
    *,
    db_session: Session,
    conversation: Conversation,
    role: str,
    text: str,
    intent: str | None = None,
    confidence: float | None = None,
    choices: list[dict[str, Any]] | None = None,
    answers: list[dict[str, Any]] | None = None,
) -> Message:
    """Append a message to a conversation."""
    msg = Message(
        conversation_id=conversation.id,
        role=role,
        text=text,
        intent=intent,
        confidence=confidence,
        choices=choices or None,
        answers=answers or None,
        at=utcnow(),
    )
    db_session.add(msg)
    conversation.messages.append(msg)
    conversation.updated_at = msg.at
    db_session.flush()
    return msg


def confirm_intent(*, db_session: Session, message_id: int | None, intent: str) -> None:
    """Mark a user message's intent as confirmed, so the next training run learns from it."""
    if message_id is None:
        return
    msg = db_session.get(Message, message_id)
    if msg is not None and msg.role == Role.user:
        msg.confirmed_intent = intent


def finish(*, conversation: Conversation, outcome: Outcome) -> None:
    """Record how the conversation ended (the latest outcome counts)."""
    conversation.state = ConversationState(outcome.value)
    conversation.outcome = outcome
    conversation.context = {}


def transcript(conversation: Conversation) -> str:
    """The conversation as plain text, for the description of a ticket opened from it."""
    lines = []
    for msg in conversation.messages:
        who = "User" if msg.role == Role.user else "Virtual agent"
        lines.append(f"{who}: {msg.text}")
    text = "\n".join(lines)
    return text if len(text) <= TRANSCRIPT_MAX else "...\n" + text[-TRANSCRIPT_MAX:]


def abandon_stale(*, db_session: Session, older_than: timedelta) -> int:
    """Conversations waiting on the user for longer than `older_than` end as abandoned; returns how many."""
    cutoff = utcnow() - older_than
    waiting = (ConversationState.awaiting_choice, ConversationState.awaiting_feedback)
    stmt = select(Conversation).where(Conversation.state.in_(waiting), Conversation.updated_at < cutoff)
    count = 0
    for conv in db_session.scalars(stmt):
        finish(conversation=conv, outcome=Outcome.abandoned)
        count += 1
    return count


def abandon_job() -> dict[str, Any]:
    """Worker job: end conversations nobody answered."""
    minutes = get_settings().chat_abandon_minutes
    with get_session() as session:
        return {"abandoned": abandon_stale(db_session=session, older_than=timedelta(minutes=minutes))}
