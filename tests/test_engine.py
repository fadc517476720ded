"""db.engine: session settings every AlphaPulse connection gets, and the TimescaleDB probe."""

from __future__ import annotations

from psycopg.pq import TransactionStatus
from sqlalchemy import text

from db.engine import get_engine, probe_timescaledb, reading
from db.queries.common import fetch_rows
from tests.conftest import role_url


def test_sessions_run_without_jit_and_name_themselves(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar() == "off"
        assert conn.execute(text("SHOW application_name")).scalar() == "alphapulse"


def test_probe_reads_version_and_licence(engine):
    with engine.connect() as conn:
        info = probe_timescaledb(conn)
        version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    assert info.version == version
    assert info.has_tsl == (info.license == "timescale")


def test_read_connections_run_each_statement_in_its_own_transaction(db_url):
    """``db.engine.reading``: autocommit (no ``BEGIN`` before a read, nothing to roll back after it), on the driver's
    cursors too (``db.queries.common.fetch_rows``); the engine's other connections keep their transactions."""
    url = role_url(db_url, "app")
    with reading(url) as conn:
        driver = conn.connection.driver_connection
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert driver.info.transaction_status == TransactionStatus.IDLE
        assert fetch_rows(conn, text("SELECT 2 AS two"))[1] == [(2,)]
        assert driver.info.transaction_status == TransactionStatus.IDLE
        stamps = conn.execute(text("SELECT transaction_timestamp() = statement_timestamp()")).scalar()
    assert stamps  # the statement started its transaction
    with get_engine(url).connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.connection.driver_connection.info.transaction_status == TransactionStatus.INTRANS
