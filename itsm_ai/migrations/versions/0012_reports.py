"""reports: per-ticket report facts, per-field suggestion facts, and the indexes reports walk

The facts are filled by the engine listener on every ticket write, by the bulk importer, and for tickets that
already exist by `itsm-ai db rebuild-report-facts` (the server also back-fills missing facts in the background
when it starts).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 16:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMENSIONS = ['assignment_group_id', 'category', 'priority', 'assigned_to_id', 'state']


def _dimension_columns(table: str) -> list[sa.Column]:
    return [
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=80), nullable=True),
        sa.Column('assignment_group_id', sa.Integer(), nullable=True),
        sa.Column('assigned_to_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['assignment_group_id'], ['groups.id'], name=op.f(f'fk_{table}_assignment_group_id_groups'),
            ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['assigned_to_id'], ['users.id'], name=op.f(f'fk_{table}_assigned_to_id_users'), ondelete='SET NULL'
        ),
    ]


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'report_tickets',
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('opened_at', sa.BigInteger(), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        *_dimension_columns('report_tickets'),
        sa.Column('resolved_at', sa.BigInteger(), nullable=True),
        sa.Column('closed_at', sa.BigInteger(), nullable=True),
        sa.Column('ended_at', sa.BigInteger(), nullable=True),
        sa.Column('first_response_at', sa.BigInteger(), nullable=True),
        sa.Column('resolve_business_seconds', sa.BigInteger(), nullable=True),
        sa.Column('response_business_seconds', sa.BigInteger(), nullable=True),
        sa.Column('reassignment_count', sa.Integer(), nullable=True),
        sa.Column('reopen_count', sa.Integer(), nullable=True),
        sa.Column('sla_stage', sa.String(length=20), nullable=True),
        sa.Column('sla_deadline', sa.BigInteger(), nullable=True),
        sa.Column('response_stage', sa.String(length=20), nullable=True),
        sa.Column('response_deadline', sa.BigInteger(), nullable=True),
        sa.Column('source_made_sla', sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint('record_type', 'opened_at', 'record_id', name=op.f('pk_report_tickets')),
        sqlite_with_rowid=False,
    )
    op.create_index('uq_report_tickets_record', 'report_tickets', ['record_type', 'record_id'], unique=True)
    op.create_index(
        'ix_report_tickets_resolved',
        'report_tickets',
        ['record_type', 'resolved_at', 'opened_at', *DIMENSIONS, 'reassignment_count', 'reopen_count',
         'resolve_business_seconds'],
    )
    op.create_index('ix_report_tickets_closed', 'report_tickets', ['record_type', 'closed_at', *DIMENSIONS])
    op.create_index(
        'ix_report_tickets_ended', 'report_tickets', ['record_type', 'ended_at', 'opened_at', *DIMENSIONS]
    )
    op.create_index(
        'ix_report_tickets_responded',
        'report_tickets',
        ['record_type', 'first_response_at', 'opened_at', *DIMENSIONS, 'response_business_seconds'],
    )
    op.create_table(
        'report_suggestions',
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('field', sa.String(length=80), nullable=False),
        sa.Column('model', sa.String(length=80), nullable=False),
        sa.Column('model_version', sa.String(length=20), nullable=False),
        sa.Column('opened_at', sa.BigInteger(), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('feedback', sa.String(length=20), nullable=True),
        *_dimension_columns('report_suggestions'),
        sa.PrimaryKeyConstraint(
            'record_type', 'field', 'model', 'model_version', 'opened_at', 'record_id',
            name=op.f('pk_report_suggestions'),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        'uq_report_suggestions_record', 'report_suggestions', ['record_type', 'record_id', 'field'], unique=True
    )
    if op.get_bind().dialect.name == 'postgresql':  # SQLite walks each key's range of the clustered table
        op.create_index('ix_report_suggestions_opened', 'report_suggestions', ['record_type', 'opened_at'])
    op.create_table(
        'report_suggestion_hours',
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('field', sa.String(length=80), nullable=False),
        sa.Column('model', sa.String(length=80), nullable=False),
        sa.Column('model_version', sa.String(length=20), nullable=False),
        sa.Column('hour', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('feedback', sa.String(length=20), nullable=False),
        sa.Column('tickets', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            'record_type', 'field', 'model', 'model_version', 'hour', 'status', 'feedback',
            name=op.f('pk_report_suggestion_hours'),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index('ix_report_suggestion_hours_hour', 'report_suggestion_hours', ['record_type', 'hour'])
    # Deflection walks conversations by start time; knowledge walks votes and publications by their time.
    op.create_index(
        'ix_chat_conversations_started', 'chat_conversations', ['started_at', 'outcome', 'intent']
    )
    op.create_index(
        'ix_knowledge_feedback_updated', 'knowledge_feedback', ['updated_at', 'article_id', 'helpful']
    )
    op.create_index('ix_knowledge_articles_published', 'knowledge_articles', ['published_at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_knowledge_articles_published', table_name='knowledge_articles')
    op.drop_index('ix_knowledge_feedback_updated', table_name='knowledge_feedback')
    op.drop_index('ix_chat_conversations_started', table_name='chat_conversations')
    op.drop_table('report_suggestion_hours')
    op.drop_table('report_suggestions')
    op.drop_table('report_tickets')
