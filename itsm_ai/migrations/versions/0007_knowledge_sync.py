"""knowledge: index sync state, article feedback, duplicate and major-incident links

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from itsm_ai.database import UTCDateTime

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'knowledge_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('helpful', sa.Boolean(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['article_id'], ['knowledge_articles.id'],
            name=op.f('fk_knowledge_feedback_article_id_knowledge_articles'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_knowledge_feedback_user_id_users'), ondelete='SET NULL'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_feedback')),
        sa.UniqueConstraint('article_id', 'user_id', name=op.f('uq_knowledge_feedback_article_id_user_id')),
    )
    with op.batch_alter_table('knowledge_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_feedback_user_id'), ['user_id'], unique=False)
    op.create_table(
        'knowledge_article_tickets',
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('record_type', sa.String(length=30), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['article_id'], ['knowledge_articles.id'],
            name=op.f('fk_knowledge_article_tickets_article_id_knowledge_articles'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(
            'article_id', 'record_type', 'record_id', name=op.f('pk_knowledge_article_tickets')
        ),
    )
    with op.batch_alter_table('knowledge_article_tickets', schema=None) as batch_op:
        batch_op.create_index('ix_knowledge_article_tickets_record', ['record_type', 'record_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('knowledge_article_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_knowledge_article_tickets_record')
    op.drop_table('knowledge_article_tickets')
    with op.batch_alter_table('knowledge_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_feedback_user_id'))
    op.drop_table('knowledge_feedback')
