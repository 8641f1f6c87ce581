"""console queue on PostgreSQL: a partial index of the running clocks in deadline order

0017's clock index leads with (record_type, kind, stopped_at): PostgreSQL answers "stopped_at IS NULL" from it
but does not treat that condition as an equality for ordering, so it read every running clock and sorted them
(70 ms at 26,000 open tickets, 200+ ms once joined to a saved view's filter). A partial index over the running
clocks only, (record_type, kind, deadline, record_id) WHERE stopped_at IS NULL, is walked in deadline order and
stops at a page (under 2 ms). SQLite uses it the same way.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-06 02:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    running = sa.text('stopped_at IS NULL')
    op.create_index(
        'ix_ticket_slas_running_due',
        'ticket_slas',
        ['record_type', 'kind', 'deadline', 'record_id'],
        postgresql_where=running,
        sqlite_where=running,
    )


def downgrade() -> None:
    op.drop_index('ix_ticket_slas_running_due', table_name='ticket_slas')
