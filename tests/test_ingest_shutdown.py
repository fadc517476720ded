"""Nothing lost, even at shutdown (issue 12, items 6-7): ``python -m ingest run`` as a process, SIGTERM while the
``prices`` table is locked and while the database is down, then a restart: the process exits within 10 s, rows it
could not write are spooled and written once on the next start, and a locked table holds up only its own kind.

Real TimescaleDB (the ingest role, as ``python -m ingest`` connects), real ccxt against the fake exchange.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import make_url, text

from ingest.buffer import Batch, Buffer
from ingest.metrics import Metrics
from ingest.recorded import read_funding, read_klines_1m
from ingest.spool import Spool, decode_batch, encode_batch
from settings import PROJECT_ROOT
from tests.conftest import role_url
from tests.fake_exchange.store import DEFAULT_NOW_MS
from tests.ingest_helpers import TcpProxy, recorded_candles, stored_candles

BTC = "BTC/USDT:USDT"


def test_spool_round_trip_keeps_every_value_and_type(tmp_path):
    candles = read_klines_1m().head(50).assign(exchange="binanceusdm")
    funding = read_funding().head(50).assign(mark_price=np.nan)
    funding.loc[funding.index[:3], "mark_price"] = [1.5, np.nan, 2.25]
    metrics = pd.DataFrame(
        {
            "time": pd.to_datetime([DEFAULT_NOW_MS, DEFAULT_NOW_MS], unit="ms", utc=True),
            "metric": ["rows_written", "feed_lag_seconds"],
            "value": [3.0, 0.1 + 0.2],
            "unit": ["rows", "seconds"],
            "labels": [{"exchange": "okx"}, {}],
        }
    )
    spool = Spool(tmp_path / "spool")
    batches = (
        Batch("candles", candles, "binanceusdm", "ohlcv"),
        Batch("funding", funding, "binanceusdm", "funding"),
        Batch("metrics", metrics),
    )
    for batch in batches:
        path = spool.save(batch)
        back = spool.load(path)
        assert (back.kind, back.exchange, back.stream) == (batch.kind, batch.exchange, batch.stream)
        assert back.spool == (path,)
        pd.testing.assert_frame_equal(back.frame, batch.frame)
        assert decode_batch(encode_batch(batch)).frame.dtypes.equals(batch.frame.dtypes)
    assert [p.name.split("-")[-1] for p in spool.pending("funding")] == ["funding.json"]
    assert oct(spool.directory.stat().st_mode & 0o777) == "0o700"


def test_buffer_overflow_goes_to_the_spool_not_away(tmp_path):
    spool = Spool(tmp_path / "spool")
    metrics = Metrics()
    buffer = Buffer(100, metrics, spill=spool.save)
    candles = read_klines_1m().head(60).assign(exchange="binanceusdm")
    for part in (candles.iloc[:30], candles.iloc[30:60]):
        buffer.put(Batch("candles", part, "binanceusdm", "ohlcv"))
    buffer.put(Batch("funding", read_funding().head(50), "binanceusdm", "funding"))
    assert buffer.rows == 80 and buffer.rows_of("funding") == 50  # the oldest batch of the fullest kind left
    spooled = [spool.load(p).frame for p in spool.pending("candles")]
    assert sum(len(f) for f in spooled) + buffer.rows_of("candles") == 60


class WorkerProcess:
    """``python -m ingest run`` with ``env``; its log is collected by a thread (a full pipe would block it)."""

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "run"], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"{what} not reached within {timeout} s; worker log:\n{self.log[-4000:]}")

    def sigterm(self) -> tuple[int, float]:
        """SIGTERM; returns (exit status, seconds until exit)."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=20)
        finally:
            self.kill()
        time.sleep(0.2)  # the reader thread takes the last lines
        return status, time.monotonic() - sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _env(fake, ingest_url: str, var_dir: Path) -> dict:
    days = (datetime.now(UTC) - datetime(2025, 6, 16, tzinfo=UTC)).days + 1  # the worker's clock is real time
    env = {
        **os.environ,
        "DATABASE_INGEST_URL": ingest_url,
        "ALPHAPULSE_VAR_DIR": str(var_dir),
        "ALPHAPULSE_EXCHANGE_BASE_URL": fake.url,
        "ALPHAPULSE_EXCHANGES": "binanceusdm",
        "ALPHAPULSE_SYMBOLS": "BTC",
        "ALPHAPULSE_BACKFILL_DAYS": str(days),
        "ALPHAPULSE_FUNDING_POLL_SECONDS": "1",
        "ALPHAPULSE_OHLCV_POLL_SECONDS": "1",
        "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5",
        "ALPHAPULSE_BACKOFF_SCALE": "0.2",
    }
    env.pop("DATABASE_URL", None)
    return env


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        conn.execute(text("SET lock_timeout = '1s'"))
        return conn.execute(text(sql), params).scalar_one()


def _spooled(var_dir: Path) -> dict[str, pd.DataFrame]:
    files = sorted((var_dir / "spool").glob("*/*.json"))
    batches = [Spool(f.parent).load(f) for f in files]
    return {
        kind: pd.concat([b.frame for b in batches if b.kind == kind], ignore_index=True)
        for kind in {b.kind for b in batches}
    }


def _assert_stopped_in_time(worker: WorkerProcess, status: int, elapsed: float) -> int:
    log = worker.log
    assert status == 0 and elapsed < 10, f"exit {status} after {elapsed:.1f} s\n{log[-3000:]}"
    assert "Traceback" not in log and "0 rows left unwritten" in log, log[-3000:]
    line = next(x for x in log.splitlines() if "rows spooled" in x)
    return int(line.split(" rows spooled")[0].rsplit(",", 1)[1])


def _restart_and_replay(fake, env: dict, var_dir: Path, clean_db) -> None:
    worker = WorkerProcess(env)
    worker.wait_for(lambda: not list((var_dir / "spool").glob("*/*.json")), 60, "spool replayed")
    status, elapsed = worker.sigterm()
    assert status == 0 and elapsed < 10, worker.log[-3000:]
    assert "replaying" in worker.log


def _assert_candles_once_and_exact(engine, spooled: pd.DataFrame) -> None:
    """Every spooled candle is stored, and the stored 1-minute candles are the recorded ones minute by minute: none
    missing between the first and the last, none twice, the exchange's values."""
    stored = stored_candles(engine, BTC)
    assert set(pd.to_datetime(spooled["time"], utc=True)) <= set(stored["time"])
    expected = recorded_candles(BTC, stored["time"].min(), stored["time"].max() + pd.Timedelta(minutes=1))
    np.testing.assert_array_equal(stored["time"].to_numpy(), expected["time"].to_numpy())
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())


@pytest.mark.timeout(240)
def test_sigterm_with_prices_locked_exits_in_time_and_loses_nothing(clean_db, db_url, fake_exchange, tmp_path):
    fake_exchange.set_now(DEFAULT_NOW_MS - 20 * 60_000, running=True)
    env = _env(fake_exchange, role_url(db_url, "ingest"), tmp_path)
    worker = WorkerProcess(env)
    worker.wait_for(
        lambda: _count(clean_db, "SELECT count(*) FROM prices WHERE timeframe = '1m'") >= 1400, 90, "catch-up backfill"
    )
    locker = clean_db.connect()
    try:
        locker.execute(text("LOCK TABLE prices IN ACCESS EXCLUSIVE MODE"))  # held until rollback
        locked_at = datetime.now(UTC)
        fake_exchange.set_now(fake_exchange.now_ms() + 5 * 60_000, running=True)  # five new candles to write
        # Item 7: funding snapshots and metric samples keep being written while the candle write is blocked.
        worker.wait_for(
            lambda: (
                _count(
                    clean_db, "SELECT count(*) FROM funding_rates WHERE NOT settled AND received_at > :t", t=locked_at
                )
                >= 3
            ),
            30,
            "funding while locked",
        )
        worker.wait_for(
            lambda: (
                _count(
                    clean_db,
                    "SELECT count(*) FROM system_metrics WHERE metric = "
                    "'buffer_depth_rows' AND value > 0 AND time > :t",
                    t=locked_at,
                )
                > 0
            ),
            30,
            "candles waiting",
        )
        status, elapsed = worker.sigterm()
    finally:
        locker.rollback()
        locker.close()
    spooled_rows = _assert_stopped_in_time(worker, status, elapsed)
    spooled = _spooled(tmp_path)
    assert spooled_rows > 0 and len(spooled["candles"]) > 0
    _restart_and_replay(fake_exchange, env, tmp_path, clean_db)
    _assert_candles_once_and_exact(clean_db, spooled["candles"])


@pytest.mark.timeout(240)
def test_sigterm_with_the_database_down_spools_and_the_next_start_writes_it(clean_db, db_url, fake_exchange, tmp_path):
    url = make_url(db_url)
    proxy = TcpProxy((url.host, url.port)).restore()
    fake_exchange.set_now(DEFAULT_NOW_MS - 20 * 60_000, running=True)
    env = _env(fake_exchange, proxy.url_for(role_url(db_url, "ingest")), tmp_path)
    worker = WorkerProcess(env)
    try:
        worker.wait_for(
            lambda: _count(clean_db, "SELECT count(*) FROM prices WHERE timeframe = '1m'") >= 1400,
            90,
            "catch-up backfill",
        )
        proxy.cut()
        fake_exchange.set_now(fake_exchange.now_ms() + 5 * 60_000, running=True)
        worker.wait_for(lambda: worker.log.count("not written") >= 3, 30, "writes failing while the database is down")
        time.sleep(2)  # a few more funding polls into the buffer
        status, elapsed = worker.sigterm()
    finally:
        proxy.cut()
    _assert_stopped_in_time(worker, status, elapsed)
    spooled = _spooled(tmp_path)
    predicted = spooled["funding"][~spooled["funding"]["settled"].astype(bool)]
    assert len(predicted) >= 2 and len(spooled["candles"]) >= 1
    proxy.restore()
    try:
        _restart_and_replay(fake_exchange, env, tmp_path, clean_db)
    finally:
        proxy.cut()
    with clean_db.connect() as conn:  # the snapshots fetched during the outage (they cannot be fetched again)
        stored = set(conn.execute(text("SELECT time FROM funding_rates WHERE NOT settled")).scalars())
    assert set(pd.to_datetime(predicted["time"], utc=True)) <= stored
    _assert_candles_once_and_exact(clean_db, spooled["candles"])
