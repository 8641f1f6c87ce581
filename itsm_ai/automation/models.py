"""Automation rules stored as data (trigger, conditions, actions as JSON) and the scheduler's firing log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.automation.enums import Trigger
from itsm_ai.database import Base, UTCDateTime, utcnow


class Rule(Base):
    """A no-code rule: when `trigger` fires on a `record_type` record matching `conditions`, run `actions`."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    record_type: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(30))
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    order: Mapped[int] = mapped_column("position", Integer, default=100)
    stop_processing: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Scheduler bookkeeping, written with plain UPDATEs so it never bumps `version`: the last `every` slot
    # fully processed, and the time up to which `after` anchors have been looked at.
    last_window: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_through: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_automation_rules_lookup", "record_type", "trigger", "enabled", "position"),)


class RuleFiring(Base):
    """A scheduled rule fired on a ticket in a window; the unique key makes it fire once per window."""

    __tablename__ = "automation_rule_firings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    window: Mapped[str] = mapped_column(String(60))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("rule_id", "record_type", "record_id", "window"),)


class RuleBase(BaseModel):
    """Fields shared by create and read."""

    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=10_000)
    record_type: str = Field(description="incident, problem, change or service_request.")
    trigger: Trigger
    conditions: dict[str, Any] | None = Field(
        default=None, description='{"all"|"any": [...]}, {"not": ...} or {"field", "op", "value"}.'
    )
    actions: list[dict[str, Any]] = Field(description='e.g. [{"type": "assign_group", "group": "Network"}].')
    schedule: dict[str, Any] | None = Field(
        default=None,
        description='For trigger "scheduled": {"every_minutes": N} or {"after_minutes": N, "since"}.',
    )
    order: int = Field(default=100, ge=0, le=1_000_000, description="Lower runs first.")
    stop_processing: bool = Field(
        default=False, description="When this rule matches, later rules do not run."
    )
    enabled: bool = Field(default=True, description="Create with false to keep a rule off until reviewed.")


class RuleCreate(RuleBase):
    model_config = ConfigDict(extra="forbid")


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you read; a stale version gets 409 and changes nothing.")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=10_000)
    record_type: str | None = None
    trigger: Trigger | None = None
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    schedule: dict[str, Any] | None = None
    order: int | None = Field(default=None, ge=0, le=1_000_000)
    stop_processing: bool | None = None
    enabled: bool | None = None


class RuleRead(RuleBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime
    version: int


class DryRunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last: int = Field(
        default=20, ge=1, le=500, description="How many of the newest tickets to try the rule on."
    )


class DryRunRequest(DryRunOptions):
    rule: RuleCreate


class PlannedEffect(BaseModel):
    kind: str
    description: str
    detail: dict[str, Any]


class DryRunTicket(BaseModel):
    id: int
    number: str
    matched: bool
    effects: list[PlannedEffect]


class DryRunResult(BaseModel):
    rule: str
    record_type: str
    trigger: Trigger
    evaluated: int
    matched: int
    tickets: list[DryRunTicket]
