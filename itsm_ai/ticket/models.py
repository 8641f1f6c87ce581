"""Ticket records (incident, problem, change, service request) and their API schemas.

All four share ServiceNow's task fields (TaskMixin); each adds its own. References to users, groups and other
records are stored as foreign keys and shown in the API by name (username, group name, record number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from itsm_ai.asset.models import Asset, record_cis
from itsm_ai.auth.models import User
from itsm_ai.base.states import (
    ChangeState,
    ChangeType,
    IncidentState,
    OnHoldReason,
    ProblemState,
    RequestState,
)
from itsm_ai.catalog.models import CatalogItem
from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.group.models import Group
from itsm_ai.inputs import DbInt, ExtraJson

SHORT_DESCRIPTION_MAX = 255


class TaskMixin:
    """Columns every ticket has (ServiceNow's task table)."""

    record_type: str  # set by each class; also the audit/comment record_type

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    short_description: Mapped[str] = mapped_column(String(SHORT_DESCRIPTION_MAX))
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(30))
    impact: Mapped[int] = mapped_column(Integer, default=3)
    urgency: Mapped[int] = mapped_column(Integer, default=3)
    priority: Mapped[int] = mapped_column(Integer, default=4)
    category: Mapped[str | None] = mapped_column(String(80))
    subcategory: Mapped[str | None] = mapped_column(String(80))
    resolution_code: Mapped[str | None] = mapped_column(String(80))
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    correlation_id: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(120))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What the ML suggested at create time (triage fields, similar tickets, duplicate flag); written by the
    # engine's listeners, never by API input.
    suggestions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr
    def assignment_group_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))

    @declared_attr
    def assigned_to_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @declared_attr
    def caller_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @declared_attr
    def assignment_group_ref(cls) -> Mapped[Group | None]:
        return relationship(Group, foreign_keys=f"[{cls.__name__}.assignment_group_id]", lazy="joined")

    @declared_attr
    def assigned_to_ref(cls) -> Mapped[User | None]:
        return relationship(User, foreign_keys=f"[{cls.__name__}.assigned_to_id]", lazy="joined")

    @declared_attr
    def caller_ref(cls) -> Mapped[User | None]:
        return relationship(User, foreign_keys=f"[{cls.__name__}.caller_id]", lazy="joined")

    @declared_attr
    def configuration_items_ref(cls) -> Mapped[list[Asset]]:
        return relationship(
            Asset,
            secondary=record_cis,
            primaryjoin=lambda: (
                (record_cis.c.record_id == cls.id) & (record_cis.c.record_type == cls.record_type)
            ),
            secondaryjoin=lambda: record_cis.c.asset_id == Asset.id,
            lazy="selectin",
            viewonly=True,
            order_by=Asset.name,
        )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        t = cls.__tablename__
        cid = Column("correlation_id")
        # Lists are "newest first" by default, so each filterable column leads an index ending in opened_at.
        return (
            Index(f"ix_{t}_opened", "opened_at", "id"),
            Index(f"ix_{t}_state_opened", "state", "opened_at"),
            Index(f"ix_{t}_priority_opened", "priority", "opened_at"),
            Index(f"ix_{t}_group_opened", "assignment_group_id", "opened_at"),
            Index(f"ix_{t}_assignee_opened", "assigned_to_id", "opened_at"),
            Index(f"ix_{t}_caller_opened", "caller_id", "opened_at"),
            Index(f"ix_{t}_category_opened", "category", "opened_at"),
            Index(f"ix_{t}_updated", "updated_at"),
            # The console queue's views and counts, from the index alone (migration 0017; the id since 0019).
            Index(f"ix_{t}_queue", "state", "assignment_group_id", "assigned_to_id", "priority", "id"),
            Index(
                f"uq_{t}_correlation_id",
                "correlation_id",
                unique=True,
                sqlite_where=cid.isnot(None),
                postgresql_where=cid.isnot(None),
            ),
        )


class Problem(TaskMixin, Base):
    """The cause of one or more incidents."""

    __tablename__ = "problems"
    record_type = "problem"

    workaround: Mapped[str | None] = mapped_column(Text)
    cause_notes: Mapped[str | None] = mapped_column(Text)
    # An agent's word that the fix may be shown to other requesters (the chat shows it scrubbed, unnumbered).
    fix_shareable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Incident(TaskMixin, Base):
    """An unplanned interruption or reduction in quality of a service."""

    __tablename__ = "incidents"
    record_type = "incident"

    on_hold_reason: Mapped[str | None] = mapped_column(String(30))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    reassignment_count: Mapped[int] = mapped_column(Integer, default=0)
    # An agent's word that the fix may be shown to other requesters (the chat shows it scrubbed, unnumbered).
    fix_shareable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="SET NULL"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )

    # selectin, not joined: nested joined loads made PostgreSQL spend ~200 ms planning each list query.
    problem_ref: Mapped[Problem | None] = relationship(Problem, lazy="selectin")
    duplicate_of_ref: Mapped[Incident | None] = relationship(
        "Incident", remote_side="Incident.id", foreign_keys=[duplicate_of_id], lazy="selectin", join_depth=1
    )


class Change(TaskMixin, Base):
    """A planned change to a service or configuration item."""

    __tablename__ = "changes"
    record_type = "change"

    change_type: Mapped[str] = mapped_column(String(20), default=ChangeType.normal)
    risk: Mapped[str | None] = mapped_column(String(20))
    approval: Mapped[str] = mapped_column(String(20), default="not_requested")
    implementation_plan: Mapped[str | None] = mapped_column(Text)
    backout_plan: Mapped[str | None] = mapped_column(Text)
    test_plan: Mapped[str | None] = mapped_column(Text)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    planned_end: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServiceRequest(TaskMixin, Base):
    """A user's request for something from the service catalog."""

    __tablename__ = "service_requests"
    record_type = "service_request"

    catalog_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_items.id", ondelete="SET NULL"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    approval: Mapped[str] = mapped_column(String(20), default="not_requested")
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    catalog_item_ref: Mapped[CatalogItem | None] = relationship(CatalogItem, lazy="joined")


# ----------------------------------------------------------------------------------------------- schemas

SHAREABLE_HELP = "Requesters asking the virtual agent may see this fix (scrubbed, without its number)."
Impact = Field(default=3, ge=1, le=3, description="1 (high) to 3 (low).")
Urgency = Field(default=3, ge=1, le=3, description="1 (high) to 3 (low).")


class TaskFields(BaseModel):
    """Writable fields shared by every ticket type."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=100_000)
    impact: int = Impact
    urgency: int = Urgency
    category: str | None = Field(default=None, max_length=80)
    subcategory: str | None = Field(default=None, max_length=80)
    assignment_group: str | None = Field(default=None, description="Group name.")
    assigned_to: str | None = Field(default=None, description="Username.")
    caller: str | None = Field(default=None, description="Username of the person the ticket is for.")
    resolution_code: str | None = Field(default=None, max_length=80)
    resolution_notes: str | None = Field(default=None, max_length=100_000)
    correlation_id: str | None = Field(
        default=None, max_length=100, description="The source system's own id."
    )
    location: str | None = Field(default=None, max_length=120)
    configuration_items: list[str] = Field(default_factory=list, description="Asset names.")
    extra: ExtraJson | None = Field(default=None, description="Fields without a column of their own.")
    opened_at: AwareDatetime | None = None


class TaskUpdateFields(BaseModel):
    """Every field optional; `version` is required so a stale update is refused (409)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you read; a stale version gets 409 and changes nothing.")
    short_description: str | None = Field(default=None, min_length=1, max_length=SHORT_DESCRIPTION_MAX)
    description: str | None = Field(default=None, max_length=100_000)
    impact: int | None = Field(default=None, ge=1, le=3)
    urgency: int | None = Field(default=None, ge=1, le=3)
    category: str | None = Field(default=None, max_length=80)
    subcategory: str | None = Field(default=None, max_length=80)
    assignment_group: str | None = None
    assigned_to: str | None = None
    caller: str | None = None
    resolution_code: str | None = Field(default=None, max_length=80)
    resolution_notes: str | None = Field(default=None, max_length=100_000)
    correlation_id: str | None = Field(default=None, max_length=100)
    location: str | None = Field(default=None, max_length=120)
    configuration_items: list[str] | None = None
    extra: ExtraJson | None = None


class TaskRead(BaseModel):
    """Fields every ticket shows."""

    id: int
    number: str
    short_description: str
    description: str | None
    state: str
    impact: int
    impact_label: str
    urgency: int
    urgency_label: str
    priority: int
    priority_label: str
    category: str | None
    subcategory: str | None
    assignment_group: str | None
    assigned_to: str | None
    caller: str | None
    resolution_code: str | None
    resolution_notes: str | None
    correlation_id: str | None
    location: str | None
    configuration_items: list[str]
    extra: dict[str, Any] | None
    suggestions: dict[str, Any] | None = Field(
        default=None, description="ML suggestions made when the ticket was created (agents only)."
    )
    opened_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class IncidentCreate(TaskFields):
    short_description: str = Field(min_length=1, max_length=SHORT_DESCRIPTION_MAX)
    state: IncidentState = IncidentState.new
    on_hold_reason: OnHoldReason | None = None
    problem: str | None = Field(default=None, description="Problem number.")
    duplicate_of: str | None = Field(default=None, description="Incident number.")
    fix_shareable: bool = Field(
        default=False, description=SHAREABLE_HELP
    )


class IncidentUpdate(TaskUpdateFields):
    state: IncidentState | None = None
    on_hold_reason: OnHoldReason | None = None
    problem: str | None = None
    duplicate_of: str | None = None
    fix_shareable: bool | None = Field(
        default=None, description=SHAREABLE_HELP
    )


class IncidentRead(TaskRead):
    on_hold_reason: str | None
    reopen_count: int
    reassignment_count: int
    problem: str | None
    duplicate_of: str | None
    fix_shareable: bool


class ProblemCreate(TaskFields):
    short_description: str = Field(min_length=1, max_length=SHORT_DESCRIPTION_MAX)
    state: ProblemState = ProblemState.new
    workaround: str | None = None
    cause_notes: str | None = None
    fix_shareable: bool = Field(
        default=False, description=SHAREABLE_HELP
    )


class ProblemUpdate(TaskUpdateFields):
    state: ProblemState | None = None
    workaround: str | None = None
    cause_notes: str | None = None
    fix_shareable: bool | None = Field(
        default=None, description=SHAREABLE_HELP
    )


class ProblemRead(TaskRead):
    workaround: str | None
    cause_notes: str | None
    fix_shareable: bool


class ChangeCreate(TaskFields):
    short_description: str = Field(min_length=1, max_length=SHORT_DESCRIPTION_MAX)
    state: ChangeState = ChangeState.draft
    change_type: ChangeType = ChangeType.normal
    risk: str | None = Field(default=None, pattern=r"^(low|moderate|high|very_high)$")
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    planned_start: AwareDatetime | None = None
    planned_end: AwareDatetime | None = None


class ChangeUpdate(TaskUpdateFields):
    state: ChangeState | None = None
    change_type: ChangeType | None = None
    risk: str | None = Field(default=None, pattern=r"^(low|moderate|high|very_high)$")
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    planned_start: AwareDatetime | None = None
    planned_end: AwareDatetime | None = None


class ChangeRead(TaskRead):
    change_type: str
    risk: str | None
    approval: str
    implementation_plan: str | None
    backout_plan: str | None
    test_plan: str | None
    planned_start: datetime | None
    planned_end: datetime | None


class ServiceRequestCreate(TaskFields):
    short_description: str | None = Field(
        default=None,
        min_length=1,
        max_length=SHORT_DESCRIPTION_MAX,
        description="Defaults to the item's name.",
    )
    state: RequestState = RequestState.submitted
    catalog_item: str | None = Field(default=None, description="Catalog item name.")
    quantity: int = Field(default=1, ge=1, le=1000)
    variables: dict[str, Any] | None = None


class ServiceRequestUpdate(TaskUpdateFields):
    state: RequestState | None = None
    quantity: int | None = Field(default=None, ge=1, le=1000)
    variables: dict[str, Any] | None = None


class ServiceRequestRead(TaskRead):
    catalog_item: str | None
    quantity: int
    approval: str
    variables: dict[str, Any] | None


class CallerDecision(BaseModel):
    """The caller's answer to a resolution: the version read and, to reopen, why it is not solved."""

    model_config = ConfigDict(extra="forbid")

    version: DbInt
    comment: str | None = Field(default=None, max_length=10_000)
