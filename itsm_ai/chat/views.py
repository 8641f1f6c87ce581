"""Virtual agent endpoints: chat turns, and reading conversations."""

from __future__ import annotations

from fastapi import APIRouter

from itsm_ai.auth.dependencies import CurrentUser
from itsm_ai.chat import conversations, flows
from itsm_ai.chat.models import ChatReply, ChatTurn, Conversation, ConversationList, ConversationRead
from itsm_ai.database import DbSession
from itsm_ai.inputs import RowId

router = APIRouter(prefix="/chat", tags=["chat"])


def _summary(conv: Conversation) -> dict:
    return {
        "id": conv.id,
        "user": conv.user_ref.username if conv.user_ref else None,
        "started_at": conv.started_at,
        "updated_at": conv.updated_at,
        "state": conv.state,
        "intent": conv.intent,
        "outcome": conv.outcome,
        "ticket_number": conv.ticket_number,
    }


@router.post("", response_model=ChatReply, summary="Send a message (or pick a choice) to the virtual agent")
def chat(body: ChatTurn, db_session: DbSession, user: CurrentUser):
    return flows.handle_turn(db_session=db_session, user=user, turn=body)


@router.get("", response_model=ConversationList, summary="My conversations with the virtual agent")
def list_conversations(db_session: DbSession, user: CurrentUser):
    items = conversations.list_conversations(db_session=db_session, user=user)
    return {"items": [_summary(c) for c in items]}


@router.get("/{conversation_id}", response_model=ConversationRead, summary="A conversation and its messages")
def read_conversation(conversation_id: RowId, db_session: DbSession, user: CurrentUser):
    conv = conversations.get_conversation(db_session=db_session, conversation_id=conversation_id, user=user)
    return {
        **_summary(conv),
        "messages": [
            {
                "id": m.id,
                "role": m.role,
                "text": m.text,
                "intent": m.intent,
                "confidence": m.confidence,
                "choices": m.choices,
                "answers": m.answers,
                "at": m.at,
            }
            for m in conv.messages
        ],
    }
