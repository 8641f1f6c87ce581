"""Assets (configuration items) and their links to tickets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress
from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow
from itsm_ai.group.models import Group
from itsm_ai.inputs import ExtraJson


class AssetStatus(StrEnum):
    ordered = "ordered"
    in_stock = "in_stock"
    in_use = "in_use"
    in_maintenance = "in_maintenance"
    retired = "retired"


class CiClass(StrEnum):
    hardware = "hardware"
    computer = "computer"
    server = "server"
    network = "network"
    software = "software"
    application = "application"
    service = "service"
    database = "database"
    other = "other"


record_cis = Table(
    "record_cis",
    Base.metadata,
    Column("record_type", String(40), primary_key=True),
    Column("record_id", Integer, primary_key=True),
    Column("asset_id", ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_record_cis_asset", "asset_id"),
)


class Asset(Base):
    """A configuration item: hardware, software, a service, ..."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(160), unique=True, index=True)
    ci_class: Mapped[str] = mapped_column(String(30), default=CiClass.other, index=True)
    status: Mapped[str] = mapped_column(String(30), default=AssetStatus.in_use, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(String(120), index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    model: Mapped[str | None] = mapped_column(String(120))
    location: Mapped[str | None] = mapped_column(String(120), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    support_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), index=True
    )
    correlation_id: Mapped[str | None] = mapped_column(String(100))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    owner_ref: Mapped[User | None] = relationship(User, foreign_keys=[owner_id], lazy="joined")
    support_group_ref: Mapped[Group | None] = relationship(
        Group, foreign_keys=[support_group_id], lazy="joined"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index(
            "uq_assets_correlation_id",
            "correlation_id",
            unique=True,
            sqlite_where=Column("correlation_id").isnot(None),
            postgresql_where=Column("correlation_id").isnot(None),
        ),
    )


class AssetBase(BaseModel):
    ci_class: CiClass = CiClass.other
    status: AssetStatus = AssetStatus.in_use
    description: str | None = None
    serial_number: str | None = Field(default=None, max_length=120)
    manufacturer: str | None = Field(default=None, max_length=120)
    model: str | None = Field(default=None, max_length=120)
    location: str | None = Field(default=None, max_length=120)
    ip_address: IPvAnyAddress | None = None
    owner: str | None = Field(default=None, description="Username of the owner.")
    support_group: str | None = Field(default=None, description="Name of the group that supports it.")
    correlation_id: str | None = Field(default=None, max_length=100)
    extra: ExtraJson | None = None


class AssetCreate(AssetBase):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=160)


class AssetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=160)
    ci_class: CiClass | None = None
    status: AssetStatus | None = None
    description: str | None = None
    serial_number: str | None = Field(default=None, max_length=120)
    manufacturer: str | None = Field(default=None, max_length=120)
    model: str | None = Field(default=None, max_length=120)
    location: str | None = Field(default=None, max_length=120)
    ip_address: IPvAnyAddress | None = None
    owner: str | None = None
    support_group: str | None = None
    correlation_id: str | None = Field(default=None, max_length=100)
    extra: ExtraJson | None = None


class AssetRead(AssetBase):
    id: int
    number: str
    name: str
    ip_address: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int
