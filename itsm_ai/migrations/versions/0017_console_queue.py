"""console queue: covering indexes for the agent queue's saved views and its SLA order

Tickets: (state, assignment_group_id, assigned_to_id, priority) answers "open, of my groups / mine /
unassigned, by priority" and its count from the index alone. Clocks: (record_type, kind, stopped_at,
deadline, record_id, stage) lets the queue walk the running resolution clocks soonest due first and stop at
a page, instead of joining and sorting every open ticket's clock. Knowledge article versions need no table:
the console rebuilds them from the audit trail of the `text` field.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 22:40:00

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('incidents', 'problems', 'changes', 'service_requests')


def upgrade() -> None:
    for table in TABLES:
        op.create_index(
            f'ix_{table}_queue', table, ['state', 'assignment_group_id', 'assigned_to_id', 'priority']
        )
    op.create_index(
        'ix_ticket_slas_running',
        'ticket_slas',
        ['record_type', 'kind', 'stopped_at', 'deadline', 'record_id', 'stage'],
    )


def downgrade() -> None:
    op.drop_index('ix_ticket_slas_running', table_name='ticket_slas')
    for table in TABLES:
        op.drop_index(f'ix_{table}_queue', table_name=table)
