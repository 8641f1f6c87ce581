"""Virtual agent conversations and messages, and the chat API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.chat.enums import ConversationState
from itsm_ai.database import Base, UTCDateTime, utcnow

MESSAGE_MAX = 4000


class Conversation(Base):
    """One chat between a user and the virtual agent: its state, detected intent and outcome."""

    __tablename__ = "chat_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(30), default=ConversationState.open)
    intent: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(30))
    ticket_record_type: Mapped[str | None] = mapped_column(String(40))
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    ticket_number: Mapped[str | None] = mapped_column(String(20))
    # What the flow waits for (offered choices, the problem text, the message that started the flow).
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user_ref: Mapped[User] = relationship(User, lazy="joined")
    messages: Mapped[list[Message]] = relationship(
        "Message",
        back_populates="conversation",
        order_by="Message.id",
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        Index("ix_chat_conversations_user_started", "user_id", "started_at"),
        Index("ix_chat_conversations_outcome", "outcome"),
    )


class Message(Base):
    """One line of a conversation; user messages whose intent was confirmed train the detector."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("chat_conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column(Float)
    choices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    answers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    confirmed_intent: Mapped[str | None] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(Conversation, back_populates="messages")

    __table_args__ = (Index("ix_chat_messages_conversation", "conversation_id", "id"),)


# ----------------------------------------------------------------------------------------------- schemas


class ChatTurn(BaseModel):
    """One user turn: free text, or one of the choices the previous reply offered."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: int | None = Field(default=None, ge=1, description="Omit to start a conversation.")
    message: str | None = Field(default=None, min_length=1, max_length=MESSAGE_MAX)
    choice: str | None = Field(default=None, min_length=1, max_length=200, description="A choices[].value.")

    @model_validator(mode="after")
    def _one_of(self) -> ChatTurn:
        if self.message is None and self.choice is None:
            raise ValueError("message: send a message or a choice")
        if self.message is not None and self.choice is not None:
            raise ValueError("choice: send either a message or a choice, not both")
        if self.message is not None and not self.message.strip():
            raise ValueError("message: must not be blank")
        if self.choice is not None and self.conversation_id is None:
            raise ValueError("conversation_id: required with a choice")
        return self


class Choice(BaseModel):
    value: str
    label: str


class Answer(BaseModel):
    kind: str = Field(description="knowledge_article or ticket_fix")
    number: str | None = Field(description="None for a shared fix of another user's ticket.")
    title: str
    short_description: str
    url: str | None
    suggested_fix: str | None
    score: float


class TicketRef(BaseModel):
    number: str
    record_type: str
    state: str
    short_description: str
    url: str


class TicketStatus(TicketRef):
    updated_at: datetime | None
    latest_public_comment: str | None


class ChatReply(BaseModel):
    """The virtual agent's answer to one turn."""

    conversation_id: int
    reply: str
    intent: str | None
    confidence: float | None
    choices: list[Choice]
    answers: list[Answer]
    ask_feedback: bool
    ticket: TicketRef | None
    tickets: list[TicketStatus] = Field(default_factory=list)
    state: str


class MessageRead(BaseModel):
    id: int
    role: str
    text: str
    intent: str | None
    confidence: float | None
    choices: list[dict[str, Any]] | None
    answers: list[dict[str, Any]] | None
    at: datetime


class ConversationSummary(BaseModel):
    id: int
    user: str | None
    started_at: datetime
    updated_at: datetime
    state: str
    intent: str | None
    outcome: str | None
    ticket_number: str | None


class ConversationRead(ConversationSummary):
    messages: list[MessageRead]


class ConversationList(BaseModel):
    items: list[ConversationSummary]
