"""Comments on tickets: public replies the caller sees, internal work notes they never see."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow


class Visibility(StrEnum):
    public = "public"
    internal = "internal"


class Comment(Base):
    """A public reply or an internal work note on a record."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(10), default=Visibility.public)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author_ref: Mapped[User | None] = relationship(User, lazy="joined")

    __table_args__ = (Index("ix_comments_record", "record_type", "record_id", "id"),)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=100_000)
    visibility: Visibility = Visibility.public


class CommentRead(BaseModel):
    id: int
    record_type: str
    record_id: int
    body: str
    visibility: Visibility
    author: str | None
    created_at: datetime
