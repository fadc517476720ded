"""One SQLAlchemy engine per process, plus a probe of the server's TimescaleDB capabilities."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, text

from settings import get_settings


def make_engine(url: str, *, pool_size: int = 5, lock_timeout: float | None = None,
                statement_timeout: float | None = None) -> Engine:
    """A new engine for ``url`` (``postgresql+psycopg://…``).

    ``prepare_threshold=None`` stops psycopg from preparing statements: PostgreSQL may then pick a
    generic plan that scans a whole time range through the ``time`` index (2–4× slower bucket
    queries, measured in ``ARCHITECTURE.md``). ``pool_pre_ping`` survives database restarts.

    JIT compilation is off for every session (``options=-c jit=off``): the per-series LATERAL chart queries are
    estimated above ``jit_above_cost`` (the planner cannot see how few rows a series has) and compiling them cost
    80-300 ms for queries that run in under 1 ms; health probes over many chunks paid ~35 ms the same way.

    ``lock_timeout`` / ``statement_timeout`` (seconds) bound every session's waits on locks and every statement
    (the live ingest worker's sessions, ``ingest.sessions.write_engine``). TCP keepalives (5 s idle, 3 probes 2 s
    apart) and ``tcp_user_timeout`` (15 s) end a session whose server vanished without a word.
    """
    options = "-c jit=off"
    if lock_timeout is not None:
        options += f" -c lock_timeout={int(lock_timeout * 1000)}"
    if statement_timeout is not None:
        options += f" -c statement_timeout={int(statement_timeout * 1000)}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "prepare_threshold": None,
            "connect_timeout": 5,
            "application_name": "alphapulse",
            "options": options,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 15_000,
        },
    )


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: the configured database). Call
    ``get_engine.cache_clear()`` after ``fork`` (gunicorn does it in ``post_fork``)."""
    return make_engine(url or get_settings().effective_database_url)


@contextmanager
def reading(url: str) -> Iterator[Connection]:
    """A connection of :func:`get_engine` ``(url)`` for reads: in autocommit, so each statement is its own
    transaction. A read connection in a transaction cost two more round trips per checkout (psycopg's ``BEGIN``
    before the first statement, the pool's ``ROLLBACK`` at check-in: 28 of the ~63 round trips of a cold Overview
    opening) and bought nothing: at READ COMMITTED each statement takes its own snapshot anyway, and reads set
    nothing that lasts for a transaction. Not for writes (use ``engine.begin()``). Raises SQLAlchemy's
    ``OperationalError`` when the database is unreachable."""
    with get_engine(url).connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@dataclass(frozen=True)
class TimescaleInfo:
    """What the server offers: ``version`` (e.g. ``2.19.3``) and ``license`` (``apache`` or ``timescale``).

    ``has_tsl`` is True only with the Timescale License edition, which adds compression,
    continuous aggregates and retention policies; the Apache edition has hypertables,
    ``time_bucket`` and ``drop_chunks``.
    """

    version: str
    license: str

    @property
    def has_tsl(self) -> bool:
        return self.license == "timescale"


def probe_timescaledb(conn: Connection) -> TimescaleInfo:
    """Read the installed extension's version and ``timescaledb.license`` setting.

    Raises ``LookupError`` when the extension is not created in the connected database.
    """
    version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    if version is None:
        raise LookupError("the timescaledb extension is not created in this database")
    license_ = conn.execute(text("SELECT current_setting('timescaledb.license', true)")).scalar() or "apache"
    return TimescaleInfo(version=version, license=license_)
