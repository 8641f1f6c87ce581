"""training job lease: the worker that claimed a job, its heartbeat and the number of attempts

A training job runs on the task queue in a worker process. Claiming it is a conditional UPDATE of its row and the
worker renews `heartbeat_at` while it trains, so a job whose worker died (kill -9) is claimed once more after
the lease, never by two workers at once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 22:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import itsm_ai.database

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("claimed_by", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", itsm_ai.database.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("claimed_by")
        batch.drop_column("attempts")
