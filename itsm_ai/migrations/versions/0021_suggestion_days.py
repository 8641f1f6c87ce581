"""daily triage-suggestion counts per ticket field: the AI report grouped or filtered by group, category,
priority or state reads them instead of three suggestion facts per ticket

One set of rows per field (`dimension`) and value, back-filled here from the suggestion facts (and recounted
by `itsm-ai report rebuild` like the hourly counts).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 05:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("assignment_group_id", "category", "priority", "state")
KEY = ("record_type", "dimension", "field", "model", "model_version", "day", "value", "status", "feedback")


def upgrade() -> None:
    op.create_table(
        "report_suggestion_days",
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=80), nullable=False),
        sa.Column("model", sa.String(length=80), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("feedback", sa.String(length=20), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_report_suggestion_days")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_report_suggestion_days_day", "report_suggestion_days", ["record_type", "dimension", "day"]
    )
    for dimension in DIMENSIONS:  # column names from the constant above, never from input
        op.execute(
            sa.text(
                f"INSERT INTO report_suggestion_days ({', '.join(KEY)}, tickets) "
                f"SELECT record_type, '{dimension}', field, model, model_version, "
                f"opened_at - opened_at % 86400, COALESCE(CAST({dimension} AS VARCHAR(80)), ''), status, "
                f"COALESCE(feedback, ''), count(*) FROM report_suggestions "
                f"GROUP BY record_type, field, model, model_version, opened_at - opened_at % 86400, "
                f"COALESCE(CAST({dimension} AS VARCHAR(80)), ''), status, COALESCE(feedback, '')"
            )
        )


def downgrade() -> None:
    op.drop_index("ix_report_suggestion_days_day", table_name="report_suggestion_days")
    op.drop_table("report_suggestion_days")
