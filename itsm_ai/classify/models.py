"""Triage records: agents' feedback on suggestions and background training jobs, with their API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.classify.enums import JobStatus
from itsm_ai.database import Base, UTCDateTime, utcnow


class TriageFeedback(Base):
    """An agent accepted or overrode a suggested field value; the final value is a training label."""

    __tablename__ = "triage_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(80))
    suggested_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    final_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(80))
    model_version: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_triage_feedback_record", "record_type", "record_id", "field", "id"),)


class TrainingJob(Base):
    """A model training run in the background: progress, outcome and the version it produced."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[str | None] = mapped_column(String(20))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The lease of the worker running it: claimed by a conditional UPDATE, renewed while it trains.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ----------------------------------------------------------------------------------------------- schemas


class TriageRequest(BaseModel):
    """Free text to triage: `text`, or a short description and description joined as a ticket's are."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=100_000)
    short_description: str | None = Field(default=None, max_length=1000)
    description: str | None = Field(default=None, max_length=100_000)

    @model_validator(mode="after")
    def _some_text(self) -> TriageRequest:
        if not any((v or "").strip() for v in (self.text, self.short_description, self.description)):
            raise ValueError("text: give text, or short_description and/or description")
        return self


class AcceptBody(BaseModel):
    """Accept the suggested value; `version` (optional) is the ticket version you read."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="The ticket version you read (checked when given).")


class OverrideBody(BaseModel):
    """Set the field to the agent's value instead of the suggestion."""

    model_config = ConfigDict(extra="forbid")

    value: str | int = Field(
        description="The correct value (group name for assignment_group, 1-5 for priority)."
    )
    version: int = Field(
        description="The ticket version you read; a stale version gets 409 and changes nothing."
    )


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(description="The version to make CURRENT, e.g. v0002.")


class ChallengerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(description="The version to run in shadow; null stops the shadow run.")


class TrainBody(BaseModel):
    """Train a new version of one target's model from the tickets in the store."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(
        min_length=1, max_length=64, description="The ticket field to predict, e.g. category."
    )
    features: str | None = Field(
        default=None, description="tfidf, embedding, both, or auto (compare by cross-validation)."
    )
    target_precision: float | None = Field(default=None, gt=0, le=1)
    min_class_count: int | None = Field(default=None, ge=5, le=100_000)
    promote: bool = Field(default=False, description="Make the new version CURRENT when training succeeds.")


class TrainingJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    target: str
    status: str
    progress: float
    message: str | None
    params: dict[str, Any] | None
    version: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
