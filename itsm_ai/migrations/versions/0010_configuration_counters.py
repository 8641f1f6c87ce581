"""configuration counters: groups, SLA calendars and policies, rules and webhooks become store records

The generic store answers a list's unfiltered total from `record_counters` (O(1)); the configuration tables
now go through it, so each needs its counter row, seeded here from the rows already stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# record type -> table
CONFIGURATION = {
    "group": "groups",
    "sla_calendar": "sla_calendars",
    "sla_policy": "sla_policies",
    "automation_rule": "automation_rules",
    "webhook": "webhook_subscriptions",
}


def upgrade() -> None:
    bind = op.get_bind()
    for record_type, table in CONFIGURATION.items():
        rows = bind.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
        bind.execute(sa.text("DELETE FROM record_counters WHERE record_type = :t"), {"t": record_type})
        bind.execute(
            sa.text(
                "INSERT INTO record_counters (record_type, next_number, row_count, generation) "
                "VALUES (:t, :next, :rows, 1)"
            ),
            {"t": record_type, "next": rows + 1, "rows": rows},
        )


def downgrade() -> None:
    bind = op.get_bind()
    for record_type in CONFIGURATION:
        bind.execute(sa.text("DELETE FROM record_counters WHERE record_type = :t"), {"t": record_type})
