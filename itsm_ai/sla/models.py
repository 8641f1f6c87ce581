"""SLA records (calendars, policies, per-ticket clocks, state history) and their API schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.sla.enums import (
    DEFAULT_CANCEL_STATES,
    DEFAULT_PAUSED_STATES,
    DEFAULT_RESPONSE_STATES,
    DEFAULT_STOP_STATES,
)
from itsm_ai.workflow.sla_clock import SlaKind, SlaStage

NAME_PATTERN = r"^\S.{0,119}$"


class DefinitionKey:
    """A calendar field kept as one key of the calendar's `definition` JSON (read and written as a field)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return (obj.definition or {}).get(self.key)

    def __set__(self, obj: Any, value: Any) -> None:
        # A new dict, so the JSON column sees the change.
        obj.definition = {**(obj.definition or {}), self.key: value}


class SlaCalendar(Base):
    """A named business calendar; `definition` is BusinessCalendar JSON (zone, hours, holidays), whose keys
    the API shows as the calendar's fields."""

    __tablename__ = "sla_calendars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    timezone = DefinitionKey()
    hours = DefinitionKey()
    country = DefinitionKey()
    subdiv = DefinitionKey()
    extra_holidays = DefinitionKey()

    __mapper_args__ = {"version_id_col": version}


class SlaPolicy(Base):
    """Response and resolution targets for tickets matching `condition`; lowest `order` is tried first."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    order: Mapped[int] = mapped_column("sort_order", Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_target: Mapped[int] = mapped_column("response_target_minutes", Integer)
    resolution_target: Mapped[int] = mapped_column("resolution_target_minutes", Integer)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("sla_calendars.id", ondelete="RESTRICT"))
    warning_percent: Mapped[float] = mapped_column(Float, default=75.0)
    paused_states: Mapped[list[str]] = mapped_column(JSON)
    response_states: Mapped[list[str]] = mapped_column(JSON)
    stop_states: Mapped[list[str]] = mapped_column(JSON)
    cancel_states: Mapped[list[str]] = mapped_column(JSON)
    warning_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    breach_actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    calendar_ref: Mapped[SlaCalendar | None] = relationship(SlaCalendar, lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_sla_policies_order", "sort_order", "id"),)


class TicketStateHistory(Base):
    """One state a ticket entered, and when: the history every SLA clock is recomputed from."""

    __tablename__ = "ticket_state_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_ticket_state_history_record", "record_type", "record_id", "id"),)


class TicketSla(Base):
    """One SLA clock (response or resolution) of one ticket, as of `updated_at`.

    `policy` is a snapshot of the policy (with its calendar and escalations) the clock runs on, so editing
    or deleting a policy never changes a running clock; a re-selection (priority or category change) replaces
    it. `next_check_at` is when the sweep must next look: the earliest warning or breach not fired yet.
    """

    __tablename__ = "ticket_slas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    policy_name: Mapped[str] = mapped_column(String(120))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    stage: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    warning_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    elapsed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    breached: Mapped[bool] = mapped_column(Boolean, default=False)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    audited_events: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("record_type", "record_id", "kind"),
        # The console queue walks the running clocks soonest due first (migration 0017).
        Index(
            "ix_ticket_slas_running", "record_type", "kind", "stopped_at", "deadline", "record_id", "stage"
        ),
        # ... which PostgreSQL walks in deadline order only from a partial index of the running clocks (0019).
        Index(
            "ix_ticket_slas_running_due",
            "record_type",
            "kind",
            "deadline",
            "record_id",
            postgresql_where=text("stopped_at IS NULL"),
            sqlite_where=text("stopped_at IS NULL"),
        ),
    )


# ----------------------------------------------------------------------------------------------- schemas

Hours = dict[str, list[str]]


class CalendarFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/London.")
    hours: Hours | None = Field(
        default=None,
        description='Working intervals per weekday, e.g. {"mon": ["08:00-18:00"]}; omitted = 24x7.',
        examples=[{d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}],
    )
    country: str | None = Field(
        default=None, description="Public holidays of this ISO country (holidays lib)."
    )
    subdiv: str | None = Field(default=None, description="Subdivision for the holidays, e.g. ENG for GB.")
    extra_holidays: list[date] = Field(default_factory=list, description="More closed dates.")


class CalendarCreate(CalendarFields):
    name: str = Field(pattern=NAME_PATTERN, max_length=120)


class CalendarUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you read; a stale version gets 409.")
    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=120)
    timezone: str | None = None
    hours: Hours | None = None
    country: str | None = None
    subdiv: str | None = None
    extra_holidays: list[date] | None = None


class CalendarRead(CalendarFields):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


Minutes = Field(gt=0, le=10 * 365 * 24 * 60, description="Business minutes on the policy's calendar.")


class PolicyFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: int = Field(default=100, ge=0, description="Lower is tried first; the first match wins.")
    enabled: bool = True
    condition: dict[str, Any] | None = Field(
        default=None,
        description="Rule condition JSON on the ticket (record_type, priority, category, service, "
        "caller_organisation, ...); empty = fallback, used when no conditional policy matches.",
        examples=[{"all": [{"field": "priority", "op": "in", "value": [1, 2]}]}],
    )
    calendar: str | None = Field(default=None, description="Calendar name; none = 24x7 UTC.")
    warning_percent: float = Field(default=75.0, gt=0, le=100)
    paused_states: list[str] = Field(default_factory=lambda: list(DEFAULT_PAUSED_STATES))
    response_states: list[str] = Field(default_factory=lambda: list(DEFAULT_RESPONSE_STATES))
    stop_states: list[str] = Field(default_factory=lambda: list(DEFAULT_STOP_STATES))
    cancel_states: list[str] = Field(default_factory=lambda: list(DEFAULT_CANCEL_STATES))
    warning_actions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Actions applied once when a clock reaches warning_percent (set_field, assign_group, "
        "assign_user, add_comment).",
    )
    breach_actions: list[dict[str, Any]] = Field(
        default_factory=list, description="Actions applied once when a clock breaches."
    )


class PolicyCreate(PolicyFields):
    name: str = Field(pattern=NAME_PATTERN, max_length=120)
    response_target: int = Minutes
    resolution_target: int = Minutes


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you read; a stale version gets 409.")
    name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=120)
    order: int | None = Field(default=None, ge=0)
    enabled: bool | None = None
    condition: dict[str, Any] | None = None
    response_target: int | None = Field(default=None, gt=0, le=10 * 365 * 24 * 60)
    resolution_target: int | None = Field(default=None, gt=0, le=10 * 365 * 24 * 60)
    calendar: str | None = None
    warning_percent: float | None = Field(default=None, gt=0, le=100)
    paused_states: list[str] | None = None
    response_states: list[str] | None = None
    stop_states: list[str] | None = None
    cancel_states: list[str] | None = None
    warning_actions: list[dict[str, Any]] | None = None
    breach_actions: list[dict[str, Any]] | None = None

    @field_validator(
        "paused_states",
        "response_states",
        "stop_states",
        "cancel_states",
        "warning_actions",
        "breach_actions",
        mode="before",
    )
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        # An explicit null clears the list (what the API always did), rather than being refused.
        return [] if value is None else value


class PolicyRead(PolicyFields):
    model_config = ConfigDict(extra="ignore")

    id: int | None = Field(description="None for the built-in defaults.")
    name: str
    response_target: int
    resolution_target: int
    version: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TicketSlaRead(BaseModel):
    """One clock of a ticket, computed at `now`."""

    kind: SlaKind
    policy: str
    calendar: str | None = Field(description="Calendar name (or its time zone); 24x7 when none.")
    stage: SlaStage
    target_minutes: int
    started_at: datetime
    deadline: datetime
    warning_at: datetime | None
    breach_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float
    paused_seconds: float
    remaining_seconds: float
    percent: float
    warning_fired: bool
    breach_fired: bool
    now: datetime
