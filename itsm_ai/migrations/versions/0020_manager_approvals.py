"""approvals from the caller's manager and from automation rules

Users get an optional manager (users.manager_id). A catalog item can require approval by the caller's manager
(catalog_items.approval_by_manager). Each approval says why it was asked (approvals.reason: the catalog item,
the caller's manager, a rule), which the console and the API show.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_users_manager_id_users"), "users", ["manager_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(batch.f("ix_users_manager_id"), ["manager_id"])
    with op.batch_alter_table("catalog_items") as batch:
        batch.add_column(
            sa.Column("approval_by_manager", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("catalog_items") as batch:
        batch.drop_column("approval_by_manager")
    with op.batch_alter_table("users") as batch:
        batch.drop_index(batch.f("ix_users_manager_id"))
        batch.drop_constraint(batch.f("fk_users_manager_id_users"), type_="foreignkey")
        batch.drop_column("manager_id")
