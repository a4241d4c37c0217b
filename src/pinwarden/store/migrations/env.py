"""Alembic environment: runs migrations against the URL set by ``pinwarden.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

# Every integration's tables share the core metadata (the sandbox's among them).
import pinwarden.integrations  # noqa: F401
from pinwarden.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    # Data migrations handle PINs: keep statement parameters out of error messages.
    connectable = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()


run_migrations()
