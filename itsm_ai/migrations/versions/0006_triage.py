"""triage: suggestions stored with tickets, feedback and training jobs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 12:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import itsm_ai.database

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
    op.create_table('triage_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=80), nullable=False),
    sa.Column('suggested_value', sa.JSON(), nullable=True),
    sa.Column('final_value', sa.JSON(), nullable=True),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('model', sa.String(length=80), nullable=True),
    sa.Column('model_version', sa.String(length=20), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=80), nullable=True),
    sa.Column('at', itsm_ai.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_triage_feedback_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_feedback'))
    )
    with op.batch_alter_table('triage_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_triage_feedback_record', ['record_type', 'record_id', 'field', 'id'], unique=False)

    op.create_table('training_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('version', sa.String(length=20), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('created_at', itsm_ai.database.UTCDateTime(), nullable=False),
    sa.Column('started_at', itsm_ai.database.UTCDateTime(), nullable=True),
    sa.Column('finished_at', itsm_ai.database.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_training_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_jobs'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('training_jobs')
    with op.batch_alter_table('triage_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_triage_feedback_record')
    op.drop_table('triage_feedback')
    for table in TICKET_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("suggestions")
