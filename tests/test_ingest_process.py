"""``python -m ingest`` as a process: SIGTERM flushes and exits 0 within 10 s; retention drops old chunks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import psutil
from sqlalchemy import text

from db.writes import write_funding, write_metrics
from ingest.recorded import read_funding, within_retention
from ingest.retention import apply_retention
from settings import PROJECT_ROOT, load_settings


def _count(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _runs_under_oo(pid: int) -> bool:
    """Whether process ``pid``'s command line turns into ``python -OO -m …`` within 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cmdline = psutil.Process(pid).cmdline()
        if "-m" in cmdline and "-OO" in cmdline[: cmdline.index("-m")]:
            return True
        time.sleep(0.05)
    return False


def test_sigterm_flushes_and_exits_zero_within_10_s(clean_db, db_url, fake_exchange):
    days = (datetime.now(UTC) - datetime(2025, 6, 16, tzinfo=UTC)).days + 1  # catch up to the recorded day
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "ALPHAPULSE_EXCHANGE_BASE_URL": fake_exchange.url,
        "ALPHAPULSE_EXCHANGES": "binanceusdm",
        "ALPHAPULSE_SYMBOLS": "BTC",
        "ALPHAPULSE_BACKFILL_DAYS": str(days),
        "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "run"], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        # the live worker re-executes itself under python -OO (same pid; ingest.__main__.exec_optimized)
        assert _runs_under_oo(proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _count(clean_db, "SELECT count(*) FROM prices") == 0:
            time.sleep(0.2)
        if _count(clean_db, "SELECT count(*) FROM prices") == 0:
            proc.kill()
            raise AssertionError(f"no candles written within 60 s; worker log:\n{proc.communicate()[1][-3000:]}")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert status == 0, log
    assert elapsed < 10
    assert "stop requested" in log and "0 rows left unwritten" in log
    assert "Traceback" not in log
    # The flush wrote the final metrics sample taken after the stop request.
    assert _count(clean_db, "SELECT count(*) FROM system_metrics WHERE metric = 'buffer_depth_rows'") > 0


def test_retention_drops_chunks_older_than_the_age(clean_db):
    now = datetime.now(UTC)
    samples = pd.DataFrame(
        {
            "time": [now - timedelta(days=45), now - timedelta(days=5), now],
            "metric": "buffer_depth_rows",
            "value": [1.0, 2.0, 3.0],
            "unit": "rows",
            "labels": [{}, {}, {}],
        }
    )
    write_metrics(clean_db, samples)
    result = apply_retention(clean_db, load_settings({"ALPHAPULSE_METRICS_RETENTION_DAYS": "30"}))
    assert result.dropped["system_metrics"] == 1
    assert _count(clean_db, "SELECT count(*) FROM system_metrics") == 2


def test_retention_keeps_a_table_that_holds_only_history(clean_db):
    """Bundled history on a machine without internet: nothing newer than the cutoff, so nothing is dropped;
    once a live row arrives, the old chunks go."""
    now = datetime.now(UTC)
    history = pd.DataFrame(
        {
            "time": [now - timedelta(days=400), now - timedelta(days=200)],
            "metric": "buffer_depth_rows",
            "value": [1.0, 2.0],
            "unit": "rows",
            "labels": [{}, {}],
        }
    )
    write_metrics(clean_db, history)
    settings = load_settings({"ALPHAPULSE_METRICS_RETENTION_DAYS": "30"})
    result = apply_retention(clean_db, settings)
    assert result.dropped["system_metrics"] == 0
    assert _count(clean_db, "SELECT count(*) FROM system_metrics") == 2
    write_metrics(clean_db, history.iloc[:1].assign(time=[now], value=[3.0]))
    assert apply_retention(clean_db, settings).dropped["system_metrics"] == 2
    assert _count(clean_db, "SELECT count(*) FROM system_metrics") == 1


def test_recorded_loader_skips_rows_retention_would_drop(clean_db):
    funding = read_funding()
    settings = load_settings({"ALPHAPULSE_RETENTION_DAYS": "90"})
    assert len(within_retention(clean_db, "funding", funding, settings)) == len(funding)  # history only: all
    live = funding.iloc[:1].assign(time=[pd.Timestamp.now(tz="UTC").floor("s")])
    write_funding(clean_db, live)
    cutoff = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=90)
    kept = within_retention(clean_db, "funding", funding, settings)
    assert len(kept) == int((funding["time"] >= cutoff).sum())
