"""Retention: drop hypertable chunks older than the configured age.

``settings.retention_days`` (default 90) for the market tables (``funding_rates``, ``prices``,
``anomalies``) and ``settings.metrics_retention_days`` (default 30) for ``system_metrics``.

The worker applies ``drop_chunks(table, older_than => now() − age)`` itself every
``settings.retention_check_seconds``, but only on a table that holds rows newer than that cutoff
(:func:`retention_cutoff`). A table holding nothing but older history — the bundled recorded data on a machine
without internet — is left whole: dropping it would empty the product, and retention resumes as soon as live data
arrives. The bundled-history loader skips rows older than the same cutoff, so ``make run`` does not reload what
retention dropped. The same path runs on both editions: the Timescale License edition's retention *policies* drop
by wall clock only and would drop the bundled history, so they are not used.

``drop_chunks`` needs the tables' owner; the ingest role calls it through the owner's ``SECURITY DEFINER`` function
``retention_drop_chunks`` (migration ``h12_01``, :mod:`db.roles`), which refuses anything but a hypertable of the
schema and a cutoff within the last day.
The ``pair_extents`` catalogue and the summary tables are refreshed after a drop
(``db.writes.extents.refresh_extents``, ``db.writes.summaries.refresh_summaries``).
``python -m ingest retention`` applies it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from db.schema import MARKET_TABLES, funding_rates, open_interest, prices, system_metrics
from db.writes.extents import refresh_extents
from db.writes.summaries import refresh_summaries
from settings import Settings

log = logging.getLogger(__name__)
#: Tables whose rows the ``pair_extents`` catalogue describes (refreshed after their chunks are dropped).
EXTENT_TABLES = (funding_rates.name, prices.name, open_interest.name)
#: Tables whose rows the summary tables of ``db.summaries`` describe (refreshed likewise).
SUMMARISED_TABLES = (funding_rates.name, open_interest.name)


@dataclass(frozen=True)
class RetentionResult:
    """``dropped``: chunks dropped per table."""

    dropped: dict[str, int]


def retention_ages(settings: Settings) -> dict[str, int]:
    """``{table: days}`` kept per hypertable."""
    ages = {t.name: settings.retention_days for t in MARKET_TABLES}
    ages[system_metrics.name] = settings.metrics_retention_days
    return ages


def retention_cutoff(conn: Connection, table: str, days: int) -> datetime | None:
    """``now() − days`` (UTC) when ``table`` holds a row newer than that, else None (history only: keep it)."""
    return conn.execute(text(f"SELECT CASE WHEN max(time) >= now() - make_interval(days => :d) "
                             f"THEN now() - make_interval(days => :d) END FROM {table}"), {"d": days}).scalar_one()


def apply_retention(engine: Engine, settings: Settings) -> RetentionResult:
    """Drop chunks older than each table's age (a table holding only older history is left whole); returns what
    was done.

    Raises SQLAlchemy errors when the database is unreachable."""
    ages = retention_ages(settings)
    dropped: dict[str, int] = {}
    with engine.begin() as conn:
        for table, days in ages.items():
            cutoff = retention_cutoff(conn, table, days)
            if cutoff is None:
                dropped[table] = 0
                continue
            chunks = conn.execute(text("SELECT retention_drop_chunks(CAST(:t AS regclass), :cutoff)"),
                                  {"t": table, "cutoff": cutoff}).scalar_one()
            dropped[table] = chunks
            if chunks:
                log.info("retention: dropped %d chunk(s) of %s older than %d days", chunks, table, days)
                if table in EXTENT_TABLES:
                    refresh_extents(conn, table)
                if table in SUMMARISED_TABLES:
                    refresh_summaries(conn, table)
    return RetentionResult(dropped)
