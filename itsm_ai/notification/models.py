"""Notifications (outbox rows, also the in-app list), admin-editable templates, per-user preferences."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.notification.enums import DeliveryState, NotificationEvent


class Notification(Base):
    """One notification to one person: written in the transaction of the change, mailed by the worker."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=DeliveryState.pending)
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_user", "user_id", "id"),
        Index("ix_notifications_record", "record_type", "record_id"),
    )


class NotificationTemplate(Base):
    """An admin's version of an event's template (without a row, the shipped default is used)."""

    __tablename__ = "notification_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(40), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class NotificationPreference(Base):
    """A user's choice: no e-mail at all, or none for some events (the in-app list always fills)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    muted_events: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event: NotificationEvent
    record_type: str | None
    number: str | None
    subject: str
    body: str
    status: DeliveryState
    skip_reason: str | None
    sent_at: datetime | None
    read_at: datetime | None
    created_at: datetime


class TemplateRead(BaseModel):
    event: NotificationEvent
    subject: str
    body: str
    customized: bool
    version: int | None
    updated_at: datetime | None
    variables: list[str]


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=1000)
    body: str = Field(min_length=1, max_length=100_000)
    version: int | None = Field(
        default=None, description="The version you read (omit when the template was not customized yet)."
    )


class TemplatePreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=1000)
    body: str | None = Field(default=None, max_length=100_000)
    number: str | None = Field(default=None, max_length=20, description="Render against this ticket.")


class RenderedRead(BaseModel):
    subject: str
    body: str


class PreferenceRead(BaseModel):
    email_enabled: bool
    muted_events: list[NotificationEvent]


class PreferenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_enabled: bool | None = None
    muted_events: list[NotificationEvent] | None = None
