"""predictions: each ticket's latest breach risk and time to resolve, and volume alerts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 19:30:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import itsm_ai.database

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ticket_predictions',
        sa.Column('record_type', sa.String(length=40), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('breach_risk', sa.Float(), nullable=True),
        sa.Column('reasons', sa.JSON(), nullable=True),
        sa.Column('ttr_hours', sa.Float(), nullable=True),
        sa.Column('ttr_low_hours', sa.Float(), nullable=True),
        sa.Column('ttr_high_hours', sa.Float(), nullable=True),
        sa.Column('breach_version', sa.String(length=20), nullable=True),
        sa.Column('ttr_version', sa.String(length=20), nullable=True),
        sa.Column('computed_at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('record_type', 'record_id', name=op.f('pk_ticket_predictions')),
    )
    op.create_index('ix_ticket_predictions_risk', 'ticket_predictions', ['record_type', 'breach_risk'])
    op.create_table(
        'volume_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dimension', sa.String(length=20), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('window_start', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('window_end', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('observed', sa.Integer(), nullable=False),
        sa.Column('expected', sa.Float(), nullable=False),
        sa.Column('p_value', sa.Float(), nullable=False),
        sa.Column('tickets', sa.JSON(), nullable=False),
        sa.Column('model_version', sa.String(length=20), nullable=True),
        sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('updated_at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['acknowledged_by_id'], ['users.id'], name=op.f('fk_volume_alerts_acknowledged_by_id_users'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_volume_alerts')),
    )
    op.create_index('ix_volume_alerts_key', 'volume_alerts', ['dimension', 'key', 'status'])
    op.create_index('ix_volume_alerts_created', 'volume_alerts', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_volume_alerts_created', table_name='volume_alerts')
    op.drop_index('ix_volume_alerts_key', table_name='volume_alerts')
    op.drop_table('volume_alerts')
    op.drop_index('ix_ticket_predictions_risk', table_name='ticket_predictions')
    op.drop_table('ticket_predictions')
