"""virtual agent: conversations and messages

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:50:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import itsm_ai.database

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'chat_conversations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('started_at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('updated_at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.Column('state', sa.String(length=30), nullable=False),
        sa.Column('intent', sa.String(length=40), nullable=True),
        sa.Column('outcome', sa.String(length=30), nullable=True),
        sa.Column('ticket_record_type', sa.String(length=40), nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('ticket_number', sa.String(length=20), nullable=True),
        sa.Column('context', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['users.id'], name=op.f('fk_chat_conversations_user_id_users'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_conversations')),
    )
    with op.batch_alter_table('chat_conversations', schema=None) as batch_op:
        batch_op.create_index('ix_chat_conversations_user_started', ['user_id', 'started_at'], unique=False)
        batch_op.create_index('ix_chat_conversations_outcome', ['outcome'], unique=False)

    op.create_table(
        'chat_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('intent', sa.String(length=40), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('choices', sa.JSON(), nullable=True),
        sa.Column('answers', sa.JSON(), nullable=True),
        sa.Column('confirmed_intent', sa.String(length=40), nullable=True),
        sa.Column('at', itsm_ai.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['conversation_id'], ['chat_conversations.id'],
            name=op.f('fk_chat_messages_conversation_id_chat_conversations'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_messages')),
    )
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.create_index('ix_chat_messages_conversation', ['conversation_id', 'id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_chat_messages_confirmed_intent'), ['confirmed_intent'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('chat_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_messages_confirmed_intent'))
        batch_op.drop_index('ix_chat_messages_conversation')
    op.drop_table('chat_messages')
    with op.batch_alter_table('chat_conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_conversations_outcome')
        batch_op.drop_index('ix_chat_conversations_user_started')
    op.drop_table('chat_conversations')
