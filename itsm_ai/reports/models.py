"""Report facts (one narrow row per ticket, one per ticket and triage field) and the report API schemas.

The facts are a projection of the store kept in the writer's transaction (see `reports.flows`): what a report
needs from a ticket, its SLA clocks, its state history and its suggestions, in one table with UTC epoch
seconds, so a report is an index range walk over one table instead of a join of four at 1M tickets. On SQLite
the tables are clustered by (type, opened) (WITHOUT ROWID); each other time a report buckets by has an index
that covers every column its reports read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from itsm_ai.chat.models import Conversation
from itsm_ai.database import Base
from itsm_ai.knowledge.article.models import ArticleFeedback, KnowledgeArticle

# The ticket fields reports filter and group by, in every covering index.
DIMENSION_COLUMNS = ("assignment_group_id", "category", "priority", "assigned_to_id", "state")
# Tickets that stayed open past their first day (or are still open): the only ones that grow older in the
# backlog's age buckets. A query uses the partial index when it repeats this condition word for word.
LINGERED = "ended_at IS NULL OR ended_at > opened_at + 86400"
# What the reports by opening time read besides the dimensions (PostgreSQL's covering index of them).
OPENED_COLUMNS = (
    *DIMENSION_COLUMNS,
    "ended_at",
    "sla_stage",
    "sla_deadline",
    "response_stage",
    "response_deadline",
    "source_made_sla",
)


class ReportTicket(Base):
    """What the reports need of one ticket; times are UTC epoch seconds."""

    __tablename__ = "report_tickets"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    opened_at: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(80))
    assignment_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_at: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    # When the ticket left the backlog: resolved, closed, cancelled or rejected.
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    # When it first left its intake states (the SLA engine's response).
    first_response_at: Mapped[int | None] = mapped_column(BigInteger)
    # Business seconds on the ticket's SLA calendar (None without an SLA clock).
    resolve_business_seconds: Mapped[int | None] = mapped_column(BigInteger)
    response_business_seconds: Mapped[int | None] = mapped_column(BigInteger)
    reassignment_count: Mapped[int | None] = mapped_column(Integer)
    reopen_count: Mapped[int | None] = mapped_column(Integer)
    # The SLA engine's clocks: stage as stored, deadline to see a running clock breach without a write.
    sla_stage: Mapped[str | None] = mapped_column(String(20))
    sla_deadline: Mapped[int | None] = mapped_column(BigInteger)
    response_stage: Mapped[str | None] = mapped_column(String(20))
    response_deadline: Mapped[int | None] = mapped_column(BigInteger)
    # The SLA verdict an imported ticket brought from its source system (ServiceNow made_sla).
    source_made_sla: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        Index("uq_report_tickets_record", "record_type", "record_id", unique=True),
        Index(
            "ix_report_tickets_resolved",
            "record_type",
            "resolved_at",
            "opened_at",
            *DIMENSION_COLUMNS,
            "reassignment_count",
            "reopen_count",
            "resolve_business_seconds",
        ),
        Index("ix_report_tickets_closed", "record_type", "closed_at", *DIMENSION_COLUMNS),
        Index("ix_report_tickets_ended", "record_type", "ended_at", "opened_at", *DIMENSION_COLUMNS),
        Index(
            "ix_report_tickets_lingered",
            "record_type",
            "opened_at",
            "ended_at",
            *DIMENSION_COLUMNS,
            sqlite_where=text(LINGERED),
            postgresql_where=text(LINGERED),
        ),
        # PostgreSQL keeps rows in a heap, not in this table's key order as SQLite does: the walks by opening
        # time (volume, backlog, SLA compliance) read this covering index alone instead of the heap.
        Index(
            "ix_report_tickets_opened",
            "record_type",
            "opened_at",
            postgresql_include=[*OPENED_COLUMNS],
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_report_tickets_responded",
            "record_type",
            "first_response_at",
            "opened_at",
            *DIMENSION_COLUMNS,
            "response_business_seconds",
        ),
        {"sqlite_with_rowid": False},
    )


# What the AI report reads of a suggestion besides its time (PostgreSQL's covering index of them).
SUGGESTION_COLUMNS = ("field", "model", "model_version", "status", "feedback", *DIMENSION_COLUMNS)


class ReportSuggestion(Base):
    """What triage suggested for one field of one ticket, and what the agent did with it.

    Clustered by (type, field, model, version, opened): the AI report walks each model version's rows in
    time order without sorting them; '' stands for no model or no version.
    """

    __tablename__ = "report_suggestions"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    field: Mapped[str] = mapped_column(String(80), primary_key=True)
    model: Mapped[str] = mapped_column(String(80), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(20), primary_key=True)
    opened_at: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    # accepted / overridden, the agent's latest feedback on the suggestion (None without feedback).
    feedback: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30))
    priority: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(80))
    assignment_group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        Index("uq_report_suggestions_record", "record_type", "record_id", "field", unique=True),
        # A report filtered by ticket fields walks periods across keys: SQLite walks each key's range of the
        # clustered table (see queries.run); PostgreSQL groups by the keys and needs the time range itself,
        # covering what the AI report reads (the heap is in key order: one page per row otherwise).
        Index(
            "ix_report_suggestions_opened",
            "record_type",
            "opened_at",
            postgresql_include=[*SUGGESTION_COLUMNS],
        ).ddl_if(dialect="postgresql"),
        {"sqlite_with_rowid": False},
    )


class ReportSuggestionHour(Base):
    """How many tickets opened in one UTC hour got each triage outcome (field, model, version, status,
    feedback): the AI report over every ticket reads these few rows instead of three per ticket.

    Kept by the same writes as the suggestion facts (deltas), rebuilt with them; '' stands for none.
    """

    __tablename__ = "report_suggestion_hours"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    field: Mapped[str] = mapped_column(String(80), primary_key=True)
    model: Mapped[str] = mapped_column(String(80), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(20), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    feedback: Mapped[str] = mapped_column(String(20), primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_report_suggestion_hours_hour", "record_type", "hour"),
        {"sqlite_with_rowid": False},
    )


# The ticket fields the daily suggestion counts are kept per (one set of rows each): few values, so a day's
# rows per value stay far fewer than its suggestions; not the assignee (hundreds of agents).
DAY_DIMENSIONS = ("assignment_group_id", "category", "priority", "state")


class ReportSuggestionDay(Base):
    """How many tickets opened in one UTC day with one value of one ticket field (`dimension`, `value`) got
    each triage outcome: the AI report grouped or filtered by that field reads these rows instead of three
    per ticket (hourly counts per group would hold about one ticket a row at 1M tickets a year).

    `value` is the field's value as text ('' for none, as for model, version and feedback). Kept by the same
    writes as the suggestion facts (deltas) and the hourly counts, rebuilt with them.
    """

    __tablename__ = "report_suggestion_days"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    field: Mapped[str] = mapped_column(String(80), primary_key=True)
    model: Mapped[str] = mapped_column(String(80), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    feedback: Mapped[str] = mapped_column(String(20), primary_key=True)
    tickets: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_report_suggestion_days_day", "record_type", "dimension", "day"),
        {"sqlite_with_rowid": False},
    )


# The ticket events the daily ticket counts keep, each the column of its time in the facts.
DAY_EVENTS = ("opened", "resolved", "closed")


class ReportTicketDay(Base):
    """How many tickets with one value of one ticket field (`dimension`, `value`) were opened, resolved and
    closed in one UTC day: the volume report grouped or filtered by that field reads these rows (about 60
    per day per group field) instead of walking every ticket three times.

    `value` is the field's value as text ('' for none). Kept by the same writes as the ticket facts (deltas),
    rebuilt with them; a row whose three counts fall to zero is dropped.
    """

    __tablename__ = "report_ticket_days"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[str] = mapped_column(String(80), primary_key=True)
    opened: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
    closed: Mapped[int] = mapped_column(Integer)

    __table_args__ = ({"sqlite_with_rowid": False},)


# The deflection report walks conversations by start time, the knowledge report votes by when they were cast
# and articles by when they were published;
# declared here (with the migration that adds them) so the chat and knowledge tables stay theirs.
Index("ix_chat_conversations_started", Conversation.started_at, Conversation.outcome, Conversation.intent)
Index("ix_knowledge_articles_published", KnowledgeArticle.published_at)
Index(
    "ix_knowledge_feedback_updated",
    ArticleFeedback.updated_at,
    ArticleFeedback.article_id,
    ArticleFeedback.helpful,
)


# ----------------------------------------------------------------------------------------------- schemas


class ReportRead(BaseModel):
    """A report: the query as understood and its tidy rows (one per period and group)."""

    metric: str
    start: datetime = Field(serialization_alias="from", description="Start of the range (included).")
    end: datetime = Field(serialization_alias="to", description="End of the range (excluded).")
    interval: str
    tz: str
    group_by: str | None
    filters: dict[str, list[Any]]
    generated_at: datetime
    columns: list[str] = Field(description="The row keys, in CSV column order.")
    items: list[dict[str, Any]] = Field(
        description='Tidy rows: {"period": "2016-03", "start": ..., "end": ..., "group": null, ...figures}.'
    )
