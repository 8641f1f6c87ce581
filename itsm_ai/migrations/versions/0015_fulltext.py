"""fulltext: `q` on tickets through FTS5 (SQLite) or a tsvector GIN index (PostgreSQL)

SQLite: an external-content FTS5 table per ticket table, kept in step by triggers, back-filled with 'rebuild'.
PostgreSQL: a GIN expression index over the same text (building it is the back-fill).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 19:10:00

"""
from collections.abc import Sequence

from alembic import op

from itsm_ai.records import fulltext

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: a later change of what `q` searches needs its own migration.
TABLES = ('incidents', 'problems', 'changes', 'service_requests')
FIELDS = ('short_description', 'description')


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        # The GIN build is the back-fill: more sort memory makes it several times faster at a million rows.
        op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table in TABLES:
        if dialect == 'postgresql':
            op.execute(fulltext.postgres_index_sql(table, FIELDS))
            # Statistics of the indexed expression: without them the planner guesses every word matches 2%
            # of the rows and walks the whole date index for a rare one instead of asking the GIN index.
            op.execute(f'ANALYZE {table}')
        else:
            for statement in fulltext.sqlite_ddl(table, FIELDS):
                op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in TABLES:
        if dialect == 'postgresql':
            op.execute(f'DROP INDEX IF EXISTS ix_{table}_fulltext')
        else:
            for statement in fulltext.sqlite_drop(table):
                op.execute(statement)
