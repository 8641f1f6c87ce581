"""User records and their API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.base.roles import Role
from itsm_ai.database import Base, UTCDateTime, utcnow

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,79}$"


class User(Base):
    """A person: requester, agent, admin or data scientist (imported callers have no password)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    full_name: Mapped[str | None] = mapped_column(String(160))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20), default=Role.requester, index=True
    )
    organisation: Mapped[str | None] = mapped_column(String(120))
    hashed_password: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Signed into every token; raised on logout and on a password change, which revokes every older token.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who approves what the user orders when a catalog item asks for the caller's manager (migration 0020).
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    manager_ref: Mapped[User | None] = relationship("User", remote_side=[id], foreign_keys=[manager_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def manager(self) -> str | None:
        """The manager's username (what the API shows and takes)."""
        return self.manager_ref.username if self.manager_ref is not None else None


class LoginAttempt(Base):
    """One login outcome (failure, success, or an admin's unlock) for a username from a client address:
    the sliding windows of the login throttle count these rows."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )


class UserBase(BaseModel):
    full_name: str | None = Field(default=None, max_length=160)
    email: EmailStr | None = None
    role: Role = Role.requester
    organisation: str | None = Field(default=None, max_length=120)
    active: bool = True
    manager: str | None = Field(
        default=None,
        max_length=80,
        description="Username of the user's manager: an active user, not the user, no cycle of managers.",
    )


class UserCreate(UserBase):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    password: str | None = Field(default=None, min_length=8, max_length=256)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    full_name: str | None = Field(default=None, max_length=160)
    email: EmailStr | None = None
    role: Role | None = None
    organisation: str | None = Field(default=None, max_length=120)
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    manager: str | None = Field(default=None, max_length=80, description="null removes the manager.")

    @field_validator("role", "active")
    @classmethod
    def _not_null(cls, value):  # noqa: D401 - validator
        if value is None:
            raise ValueError("may not be null")
        return value


class UserRead(UserBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    created_at: datetime
    version: int


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: Role
    username: str
