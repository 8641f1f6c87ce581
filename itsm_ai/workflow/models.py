"""Workflow configuration records kept as data (admins change them over the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.database import Base, UTCDateTime, utcnow


class WorkflowSetting(Base):
    """One named piece of workflow configuration as JSON (e.g. the priority matrix)."""

    __tablename__ = "workflow_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class PriorityMatrixRead(BaseModel):
    matrix: dict[str, dict[str, int]] = Field(description='{"<impact>": {"<urgency>": priority}}, 1 = high.')
    version: int
    updated_at: datetime | None = None


class PriorityMatrixUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matrix: dict[str, dict[str, int]]
    version: int = Field(description="The version you read (0 while the default is in force).")
