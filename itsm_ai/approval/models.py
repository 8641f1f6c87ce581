"""Approval records: one row per approver (a user, or a group whose members may decide)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.approval.enums import ApprovalPolicy, ApprovalState
from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.group.models import Group


class Approval(Base):
    """A request for one approver's decision on a change or service request."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=1)
    policy: Mapped[str] = mapped_column(String(10), default=ApprovalPolicy.any)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    approver_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(20), default=ApprovalState.requested, index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Why it was asked when nobody asked by hand: "catalog item", "caller's manager", "rule 3: VIP changes".
    reason: Mapped[str | None] = mapped_column(String(160))

    approver: Mapped[User | None] = relationship(User, foreign_keys=[approver_id], lazy="joined")
    approver_group: Mapped[Group | None] = relationship(
        Group, foreign_keys=[approver_group_id], lazy="joined"
    )
    decided_by: Mapped[User | None] = relationship(User, foreign_keys=[decided_by_id], lazy="joined")

    __table_args__ = (Index("ix_approvals_record", "record_type", "record_id", "round"),)


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approvers: list[str] = Field(default_factory=list, description="Usernames.")
    groups: list[str] = Field(
        default_factory=list, description="Group names: any member may decide for the group."
    )
    policy: ApprovalPolicy = ApprovalPolicy.any

    @model_validator(mode="after")
    def _someone(self):
        if not self.approvers and not self.groups:
            raise ValueError("approvers: name at least one approver or group")
        return self


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=10_000)


class ApprovalRead(BaseModel):
    id: int
    record_type: str
    record_id: int
    number: str | None = None
    round: int
    policy: str
    approver: str | None
    approver_group: str | None
    state: str
    comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    reason: str | None = None
