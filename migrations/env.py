"""Alembic environment: URL from settings, timeouts, an advisory lock, TimescaleDB schemas ignored.

The URL comes from ``config.attributes["database_url"]`` when a caller (the tests) sets it,
else from :func:`settings.get_settings` (``DATABASE_URL`` or the embedded local cluster).
Every migration runs in one transaction that first takes ``pg_advisory_xact_lock`` so two
deploys never migrate at once, with ``lock_timeout``/``statement_timeout`` so a blocked
migration fails instead of hanging the database.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

import db.accounts.schema  # noqa: F401  (registers the app-owned tables on the metadata)
import db.alerts.schema  # noqa: F401  (registers the alert tables on the metadata)
import db.summaries  # noqa: F401  (registers the summary tables on the metadata)
from db.engine import make_engine
from db.schema import metadata
from settings import get_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

#: Key of the advisory lock held while migrating (any constant bigint shared by all deploys).
MIGRATION_LOCK_KEY = 0x41_6C_70_68_61  # "Alpha"
#: Schemas owned by the TimescaleDB extension; autogenerate must not try to manage them.
TIMESCALE_SCHEMAS = {
    "_timescaledb_catalog",
    "_timescaledb_config",
    "_timescaledb_internal",
    "_timescaledb_cache",
    "_timescaledb_functions",
    "_timescaledb_debug",
    "timescaledb_information",
    "timescaledb_experimental",
}


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate filter: skip TimescaleDB's own schemas (and so its chunks and catalog)."""
    if type_ == "schema":
        return name not in TIMESCALE_SCHEMAS
    return True


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().effective_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), pool_size=1)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                include_name=include_name,
                compare_type=True,
                transaction_per_migration=False,
            )
            with context.begin_transaction():
                connection.execute(text("SET LOCAL lock_timeout = '10s'"))
                connection.execute(text("SET LOCAL statement_timeout = '10min'"))
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
