"""triage: suggestions stored with tickets, feedback and training jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 12:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TICKET_TABLES = ("incidents", "problems", "changes", "service_requests")


def upgrade() -> None:
    """Upgrade schema."""
    for table in TICKET_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("suggestions", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    for table in TICKET_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("suggestions")
