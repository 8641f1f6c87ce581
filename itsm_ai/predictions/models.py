"""Stored predictions (one row per open ticket) and volume alerts, with their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.database import Base, UTCDateTime, utcnow


class TicketPrediction(Base):
    """The latest breach risk and time to resolve of one ticket, recomputed on its events and by the sweep."""

    __tablename__ = "ticket_predictions"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    breach_risk: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    ttr_hours: Mapped[float | None] = mapped_column(Float)
    ttr_low_hours: Mapped[float | None] = mapped_column(Float)
    ttr_high_hours: Mapped[float | None] = mapped_column(Float)
    breach_version: Mapped[str | None] = mapped_column(String(20))
    ttr_version: Mapped[str | None] = mapped_column(String(20))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_ticket_predictions_risk", "record_type", "breach_risk"),)


class VolumeAlert(Base):
    """More tickets of one category or CI arrived in a window than its seasonal rate explains."""

    __tablename__ = "volume_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    observed: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    # [{"record_type", "id", "number"}] of the tickets in the burst, oldest first.
    tickets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(20))
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_volume_alerts_key", "dimension", "key", "status"),
        Index("ix_volume_alerts_created", "created_at"),
    )


class Reason(BaseModel):
    """A feature that raises a ticket's breach risk over its typical value."""

    feature: str
    label: str
    value: Any
    typical: Any = None
    effect: float


class PredictionRead(BaseModel):
    """A ticket's predictions as the API shows them."""

    record_type: str
    number: str
    breach_risk: float | None
    likely_to_breach: bool
    reasons: list[Reason]
    ttr_hours: float | None
    ttr_low_hours: float | None
    ttr_high_hours: float | None
    breach_version: str | None
    ttr_version: str | None
    computed_at: datetime | None


class AlertRead(BaseModel):
    """A volume alert with the tickets it links."""

    id: int
    dimension: str
    key: str
    status: str
    window_start: datetime
    window_end: datetime
    observed: int
    expected: float
    p_value: float
    tickets: list[dict[str, Any]]
    model_version: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class AlertUpdate(BaseModel):
    """An agent acknowledges (or closes) an alert; `version` guards against a concurrent change."""

    status: str = Field(description="acknowledged or closed")
    version: int = Field(ge=1)
