"""store fixes: ids are never reused (SQLite AUTOINCREMENT)

Audit events, comments, CI links and idempotency keys point at records by (record_type, record_id) without a
foreign key. SQLite's default rowid allocation hands the id of a deleted newest row to the next insert, so a new
record inherited the old one's audit trail. AUTOINCREMENT never reuses an id; SQLite can only switch a table to
it by rebuilding the table. PostgreSQL sequences never reuse values: nothing to do there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _plain_integer_pk_tables(bind) -> list[str]:
    """Tables whose primary key is one INTEGER column that is not a foreign key, in dependency order."""
    inspector = sa.inspect(bind)
    out = []
    for name in inspector.get_table_names():
        if name.startswith(("sqlite_", "_alembic_tmp_")) or name == "alembic_version":
            continue
        pk = inspector.get_pk_constraint(name)["constrained_columns"]
        if len(pk) != 1:
            continue
        column = next(c for c in inspector.get_columns(name) if c["name"] == pk[0])
        if not isinstance(column["type"], sa.Integer):
            continue
        if any(pk[0] in fk["constrained_columns"] for fk in inspector.get_foreign_keys(name)):
            continue
        out.append(name)
    return out


def _autoincrement(bind, table: str) -> bool:
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)
    ).scalar()
    return "AUTOINCREMENT" in (sql or "").upper()


def _set_foreign_keys(bind, on: bool) -> None:
    # The pragma is ignored inside a transaction: end the one the earlier migrations' writes opened. SQLite DDL
    # through the driver is not transactional anyway, so this only moves the commit point of those writes.
    raw = bind.connection.dbapi_connection
    if raw.in_transaction:
        raw.commit()
    bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _rebuild(table: str, autoincrement: bool) -> None:
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def _rebuild_all(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    tables = [t for t in _plain_integer_pk_tables(bind) if _autoincrement(bind, t) != autoincrement]
    if not tables:
        return
    # A rebuild drops the old table; with foreign keys on, that drop would run the ON DELETE actions of every
    # referencing row (CASCADE deletes, SET NULL unlinks). Off while rebuilding, checked before switching back.
    enforced = bool(bind.exec_driver_sql("PRAGMA foreign_keys").scalar())
    if enforced:
        _set_foreign_keys(bind, False)
    try:
        for table in tables:
            _rebuild(table, autoincrement)
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by the table rebuild: {broken[:5]}")
    except BaseException:
        bind.connection.dbapi_connection.rollback()
        raise
    finally:
        if enforced:
            _set_foreign_keys(bind, True)


def upgrade() -> None:
    """SQLite: rebuild every table with a plain integer id as AUTOINCREMENT."""
    _rebuild_all(True)


def downgrade() -> None:
    """SQLite: rebuild those tables without AUTOINCREMENT (ids may be reused again)."""
    _rebuild_all(False)
