"""Service catalog items that service requests order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, Numeric, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.group.models import Group


class CatalogItem(Base):
    """Something users can request: a laptop, a licence, access to a system."""

    __tablename__ = "catalog_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True, index=True)
    short_description: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    fulfilment_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    # Who approves its requests (migration 0019): asked on creation when the item requires approval.
    approval_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The caller's manager approves too (migration 0020); without one, the item's named approvers decide.
    approval_by_manager: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    variables: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    fulfilment_group_ref: Mapped[Group | None] = relationship(
        Group, foreign_keys=[fulfilment_group_id], lazy="joined"
    )
    approval_group_ref: Mapped[Group | None] = relationship(
        Group, foreign_keys=[approval_group_id], lazy="joined"
    )
    approver_ref: Mapped[User | None] = relationship(User, foreign_keys=[approver_id], lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class CatalogVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str
    type: str = Field(default="string", pattern=r"^(string|integer|boolean|choice)$")
    required: bool = False
    choices: list[str] | None = None


class CatalogItemBase(BaseModel):
    short_description: str | None = Field(default=None, max_length=255)
    description: str | None = None
    category: str | None = Field(default=None, max_length=80)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    requires_approval: bool = False
    fulfilment_group: str | None = None
    approval_group: str | None = Field(
        default=None, description="Group whose members approve its requests (asked on creation)."
    )
    approver: str | None = Field(default=None, description="Username who approves its requests.")
    approval_by_manager: bool = Field(
        default=False,
        description=(
            "The caller's manager approves its requests (asked on creation, with the named approver and "
            "group if any). A caller without a manager: the named approver or group decides alone, and "
            "with neither named the request is refused (422 on caller)."
        ),
    )
    variables: list[CatalogVariable] | None = None
    active: bool = True


class CatalogItemCreate(CatalogItemBase):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=160)


class CatalogItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=160)
    short_description: str | None = Field(default=None, max_length=255)
    description: str | None = None
    category: str | None = Field(default=None, max_length=80)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    requires_approval: bool | None = None
    fulfilment_group: str | None = None
    approval_group: str | None = None
    approver: str | None = None
    approval_by_manager: bool | None = None
    variables: list[CatalogVariable] | None = None
    active: bool | None = None


class CatalogItemRead(CatalogItemBase):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    version: int
