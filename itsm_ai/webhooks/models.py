"""Webhooks: subscriptions, the transactional outbox of domain events, deliveries and their attempt log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.database import Base, UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class WebhookSubscription(Base):
    """An endpoint that receives the events whose type matches one of `event_types` (wildcards allowed)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class OutboxEvent(Base):
    """A domain event, written in the same transaction as the change it describes."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(80))
    record_type: Mapped[str | None] = mapped_column(String(40))
    record_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_webhook_outbox_created", "created_at"),)


class WebhookDelivery(Base):
    """One event to send to one subscription (or, for a rule's webhook action, to one URL)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("webhook_outbox.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    rule_id: Mapped[int | None] = mapped_column(Integer, index=True)
    url: Mapped[str | None] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(10), default="POST")
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[OutboxEvent] = relationship(OutboxEvent, lazy="joined")

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "status", "id"),
    )


class DeliveryAttempt(Base):
    """The log of one try: HTTP status or error, and how long it took."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


EventTypes = Field(
    default_factory=lambda: ["*"],
    description='Event types to receive; wildcards allowed: "*", "incident.*", "*.state_changed".',
)


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    url: HttpUrl
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; generated when omitted."
    )
    event_types: list[str] = EventTypes
    enabled: bool = True
    description: str | None = Field(default=None, max_length=10_000)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you read; a stale version gets 409 and changes nothing.")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    url: HttpUrl | None = None
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    event_types: list[str] | None = None
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=10_000)


class WebhookRead(BaseModel):
    """A subscription as shown; the secret is never shown again after creation."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Shown once: keep it to verify X-ITSM-Signature.")


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float
    at: datetime


class DeliveryRead(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    log: list[AttemptRead]
