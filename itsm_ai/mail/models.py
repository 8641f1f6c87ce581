"""The intake log: one row per received message (its Message-ID is unique, so a redelivery is a duplicate)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.mail.enums import IntakeOutcome

MESSAGE_ID_MAX = 255


class MailMessage(Base):
    """A received message and what became of it (ticket, comment, ignored, refused, dead letter)."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_MAX), unique=True)
    source: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(20))
    comment_id: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=0)
    dead_letter_file: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_mail_messages_sender_received", "sender", "received_at"),
        Index("ix_mail_messages_record", "record_type", "record_id"),
    )


class MailMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: str
    source: str
    sender: str | None
    subject: str | None
    outcome: IntakeOutcome
    reason: str | None
    record_type: str | None
    number: str | None
    comment_id: int | None
    size: int
    dead_letter_file: str | None
    received_at: datetime
