"""Assignment groups and their members."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow

group_members = Table(
    "group_members",
    Base.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Group(Base):
    """An assignment group (a team that works tickets)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(254))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    manager: Mapped[User | None] = relationship(User, foreign_keys=[manager_id], lazy="selectin")
    members: Mapped[list[User]] = relationship(
        User, secondary=group_members, lazy="selectin", order_by=User.username
    )

    __mapper_args__ = {"version_id_col": version}


class GroupBase(BaseModel):
    description: str | None = None
    email: EmailStr | None = None
    manager: str | None = Field(default=None, description="Username of the group's manager.")
    active: bool = True


class GroupCreate(GroupBase):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    members: list[str] = Field(default_factory=list, description="Usernames.")


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = None
    email: EmailStr | None = None
    manager: str | None = None
    active: bool | None = None
    members: list[str] | None = None


class GroupRead(GroupBase):
    id: int
    name: str
    members: list[str]
    created_at: datetime
    version: int
