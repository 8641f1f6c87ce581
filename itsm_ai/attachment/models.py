"""Attachment metadata; the bytes live in a storage (a folder under var/ by default) under `storage_key`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.attachment.enums import AttachmentSource, AttachmentVisibility
from itsm_ai.auth.models import User
from itsm_ai.database import Base, UTCDateTime, utcnow


class Attachment(Base):
    """One file on a record; `comment_id` ties it to the reply or work note it came with."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(Integer)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    visibility: Mapped[str] = mapped_column(String(10), default=AttachmentVisibility.public)
    source: Mapped[str] = mapped_column(String(20), default=AttachmentSource.upload)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    uploaded_by: Mapped[User | None] = relationship(User, lazy="joined")

    __table_args__ = (Index("ix_attachments_record", "record_type", "record_id", "id"),)


class AttachmentRead(BaseModel):
    """An attachment as the API shows it (the bytes are at `url`)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    record_type: str
    record_id: int
    number: str | None = None
    comment_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    visibility: AttachmentVisibility
    source: AttachmentSource
    uploaded_by: str | None
    created_at: datetime
    url: str
