"""security: shareable fixes for the virtual agent, token versions, the login throttle's attempts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 19:00:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHAREABLE_TABLES = ('incidents', 'problems')


def upgrade() -> None:
    # Plain ADD COLUMN: a batch rebuild on SQLite would drop the tables' AUTOINCREMENT (ids reused, 0009).
    for table in SHAREABLE_TABLES:
        op.add_column(table, sa.Column('fix_shareable', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'login_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=80), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_login_attempts_username_at', 'login_attempts', ['username', 'at'])
    op.create_index('ix_login_attempts_address_at', 'login_attempts', ['address', 'at'])


def downgrade() -> None:
    op.drop_index('ix_login_attempts_address_at', table_name='login_attempts')
    op.drop_index('ix_login_attempts_username_at', table_name='login_attempts')
    op.drop_table('login_attempts')
    with op.batch_alter_table('users', table_kwargs={'sqlite_autoincrement': True}) as batch:
        batch.drop_column('token_version')
    for table in SHAREABLE_TABLES:
        with op.batch_alter_table(table, table_kwargs={'sqlite_autoincrement': True}) as batch:
            batch.drop_column('fix_shareable')
