"""report speed: a partial index of the tickets that stayed open past their first day; on PostgreSQL a
covering index by opening time

The backlog report counts, per period, the tickets that grew into an older age bucket while open; only the
tickets open for over a day (or still open) ever do, so those walks read this partial covering index of
them instead of every ticket. PostgreSQL stores the facts in a heap (SQLite clusters them by opening time):
the reports by opening time read the covering index alone, and the AI report's walk by opening time reads
the suggestions' index by opening time alone (their heap is in field/model/version order: one page per row).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 01:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ['assignment_group_id', 'category', 'priority', 'assigned_to_id', 'state']
LINGERED = 'ended_at IS NULL OR ended_at > opened_at + 86400'
OPENED = [*DIMENSIONS, 'ended_at', 'sla_stage', 'sla_deadline', 'response_stage', 'response_deadline',
          'source_made_sla']
SUGGESTED = ['field', 'model', 'model_version', 'status', 'feedback', *DIMENSIONS]


def upgrade() -> None:
    op.create_index(
        'ix_report_tickets_lingered',
        'report_tickets',
        ['record_type', 'opened_at', 'ended_at', *DIMENSIONS],
        sqlite_where=sa.text(LINGERED),
        postgresql_where=sa.text(LINGERED),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index(
            'ix_report_tickets_opened', 'report_tickets', ['record_type', 'opened_at'], postgresql_include=OPENED
        )
        op.drop_index('ix_report_suggestions_opened', table_name='report_suggestions')
        op.create_index(
            'ix_report_suggestions_opened',
            'report_suggestions',
            ['record_type', 'opened_at'],
            postgresql_include=SUGGESTED,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_report_suggestions_opened', table_name='report_suggestions')
        op.create_index('ix_report_suggestions_opened', 'report_suggestions', ['record_type', 'opened_at'])
        op.drop_index('ix_report_tickets_opened', table_name='report_tickets')
    op.drop_index('ix_report_tickets_lingered', table_name='report_tickets')
