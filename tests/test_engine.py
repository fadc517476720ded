"""db.engine: session settings every AlphaPulse connection gets, and the TimescaleDB probe."""

from __future__ import annotations

from sqlalchemy import text

from db.engine import probe_timescaledb


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
