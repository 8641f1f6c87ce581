"""Running Alembic migrations from code (CLI `db upgrade`, server start-up, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from itsm_ai.config import PACKAGE_DIR


def alembic_config() -> Config:
    """The Alembic config of the packaged migrations."""
    cfg = Config(str(PACKAGE_DIR / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (default: the latest)."""
    from itsm_ai.database import get_engine

    engine = engine or get_engine()
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current(engine: Engine | None = None) -> str | None:
    """The schema revision the database is at."""
    from alembic.runtime.migration import MigrationContext

    from itsm_ai.database import get_engine

    with (engine or get_engine()).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
