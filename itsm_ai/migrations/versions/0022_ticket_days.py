"""daily ticket counts per ticket field (opened, resolved, closed): the volume report grouped or filtered by
group, category, priority or state reads them instead of walking every ticket fact three times

One set of rows per field (`dimension`) and value, back-filled here from the ticket facts (and recounted by
`itsm-ai report rebuild` like the suggestion counts).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 08:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ("assignment_group_id", "category", "priority", "state")
EVENTS = ("opened", "resolved", "closed")


def _day(column: str) -> str:
    # The UTC day's start, floored (SQL's % truncates towards zero: a time before 1970 would round up).
    return f"({column} - (({column} % 86400) + 86400) % 86400)"


def upgrade() -> None:
    op.create_table(
        "report_ticket_days",
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "record_type", "dimension", "day", "value", name=op.f("pk_report_ticket_days")
        ),
        sqlite_with_rowid=False,
    )
    for dimension in DIMENSIONS:  # names from the constants above, never from input
        value = f"COALESCE(CAST({dimension} AS VARCHAR(80)), '')"
        events = " UNION ALL ".join(
            f"SELECT record_type, {_day(f'{event}_at')} AS day, {value} AS value, "
            + ", ".join(f"{int(e == event)} AS {e}" for e in EVENTS)
            + f" FROM report_tickets WHERE {event}_at IS NOT NULL"
            for event in EVENTS
        )
        op.execute(
            sa.text(
                "INSERT INTO report_ticket_days (record_type, dimension, day, value, opened, resolved, closed) "
                f"SELECT record_type, '{dimension}', day, value, sum(opened), sum(resolved), sum(closed) "
                f"FROM ({events}) AS e GROUP BY record_type, day, value"
            )
        )


def downgrade() -> None:
    op.drop_table("report_ticket_days")
