"""Knowledge article records and their API schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from itsm_ai.auth.models import User
from itsm_ai.base.states import ArticleState
from itsm_ai.database import Base, UTCDateTime, utcnow


class KnowledgeArticle(Base):
    """A how-to or known-fix article: draft -> review -> published -> retired."""

    __tablename__ = "knowledge_articles"
    record_type = "knowledge_article"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    short_description: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default=ArticleState.draft)
    category: Mapped[str | None] = mapped_column(String(80))
    keywords: Mapped[list[str] | None] = mapped_column(JSON)
    source_tickets: Mapped[list[str] | None] = mapped_column(JSON)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    article_version: Mapped[int] = mapped_column(Integer, default=1)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    not_helpful_count: Mapped[int] = mapped_column(Integer, default=0)
    correlation_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    author_ref: Mapped[User | None] = relationship(User, lazy="joined")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_knowledge_articles_state_updated", "state", "updated_at"),
        Index("ix_knowledge_articles_category", "category"),
    )


class ArticleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    short_description: str = Field(min_length=1, max_length=255, description="The article's title.")
    text: str = Field(default="", max_length=200_000)
    category: str | None = Field(default=None, max_length=80)
    keywords: list[str] | None = None
    source_tickets: list[str] | None = Field(default=None, description="Numbers of the tickets it came from.")
    correlation_id: str | None = Field(default=None, max_length=100)
    valid_to: AwareDatetime | None = None


class ArticleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    short_description: str | None = Field(default=None, min_length=1, max_length=255)
    text: str | None = Field(default=None, max_length=200_000)
    state: ArticleState | None = None
    category: str | None = Field(default=None, max_length=80)
    keywords: list[str] | None = None
    source_tickets: list[str] | None = None
    correlation_id: str | None = Field(default=None, max_length=100)
    valid_to: AwareDatetime | None = None


class ArticleRead(BaseModel):
    id: int
    number: str
    short_description: str
    text: str
    state: str
    category: str | None
    keywords: list[str] | None
    source_tickets: list[str] | None
    author: str | None
    article_version: int
    view_count: int
    helpful_count: int
    not_helpful_count: int
    correlation_id: str | None
    published_at: datetime | None
    retired_at: datetime | None
    valid_to: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class ArticleFeedback(Base):
    """One reader's "was this helpful" vote on an article (a second vote replaces the first)."""

    __tablename__ = "knowledge_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_articles.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("article_id", "user_id"),)


class ArticleTicketLink(Base):
    """An article's source ticket (the tickets a draft came from, or that an author cited)."""

    __tablename__ = "knowledge_article_tickets"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_articles.id", ondelete="CASCADE"), primary_key=True
    )
    record_type: Mapped[str] = mapped_column(String(30), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_knowledge_article_tickets_record", "record_type", "record_id"),)


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    helpful: bool = Field(description="Did the article help?")
    comment: str | None = Field(default=None, max_length=5000)


class FeedbackRead(BaseModel):
    article: str
    helpful: bool
    comment: str | None
    helpful_count: int
    not_helpful_count: int
