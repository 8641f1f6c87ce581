"""security: shareable fixes for the virtual agent

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
    for table in SHAREABLE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('fix_shareable', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table in SHAREABLE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('fix_shareable')
