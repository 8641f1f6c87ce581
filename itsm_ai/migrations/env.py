"""Alembic environment: the URL comes from the settings (or a connection handed in by the caller)."""

from alembic import context

from itsm_ai.all_models import metadata
from itsm_ai.database import make_engine

config = context.config


def run_migrations_offline() -> None:
    """Emit SQL without a database connection."""
    from itsm_ai.config import get_settings

    context.configure(url=get_settings().database_url, target_metadata=metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the given connection, or on a new engine from the settings."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine()
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
