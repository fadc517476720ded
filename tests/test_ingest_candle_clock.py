"""Candles are closed by the exchange's clock, not the worker's (issue 12, item 8).

The fake exchange serves the candle containing its own "now" as still open (values as at its open), and its clock
is skewed against the worker's: 5 s behind (the fault run: candles stored 0.15-3.18 s before the exchange closed
them, never fetched again) and 5 s ahead. Real ccxt, real TimescaleDB as the ingest role, in-process worker.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db.writes import write_candles
from ingest.worker import Worker
from settings import load_settings
from tests.fake_exchange.store import DEFAULT_NOW_MS
from tests.ingest_helpers import recorded_candles, run_worker_until, stored_candles

BTC = "BTC/USDT:USDT"
M = pd.Timestamp(DEFAULT_NOW_MS, unit="ms", tz="UTC").ceil("1min")  # 08:39:00, the first boundary after the default now
MS = int(M.timestamp() * 1000)


def _worker(fake, engine) -> Worker:
    settings = load_settings(
        {
            "ALPHAPULSE_EXCHANGE_BASE_URL": fake.url,
            "ALPHAPULSE_EXCHANGES": "binanceusdm",
            "ALPHAPULSE_SYMBOLS": "BTC",
            "ALPHAPULSE_BACKFILL_DAYS": "1",
            "ALPHAPULSE_FUNDING_POLL_SECONDS": "1",
            "ALPHAPULSE_OHLCV_POLL_SECONDS": "1",
            "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5",
            "ALPHAPULSE_BACKOFF_SCALE": "0.01",
        }
    )
    return Worker(settings, engine, clock=lambda: fake.now_ms() / 1000)


def _ohlcv_polls(fake) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/klines"))


def _assert_recorded(engine, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The stored 1-minute candles are exactly the recorded final ones from ``start`` to ``end`` (exclusive)."""
    stored = stored_candles(engine, BTC)
    expected = recorded_candles(BTC, start, end)
    assert stored["time"].max() == end - pd.Timedelta(minutes=1), stored.tail(3)
    stored = stored[stored["time"] >= start].reset_index(drop=True)
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(stored[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    return stored


def test_exchange_clock_behind_the_worker_stores_no_open_candle(clean_db, ingest_engine, fake_exchange):
    fake_exchange.set_now(MS + 2_000)  # the worker: 2 s after M (it would call the M-1 min candle closed)
    fake_exchange.set_skew(-5_000)  # the exchange: 3 s before M, the M-1 min candle still open there
    worker = _worker(fake_exchange, ingest_engine)
    state = {"polls": None}

    def step() -> bool:
        stored = stored_candles(clean_db, BTC)
        if state["polls"] is None and len(stored) and stored["time"].max() == M - pd.Timedelta(minutes=2):
            state["polls"] = _ohlcv_polls(fake_exchange)  # caught up; let the live stream poll a few times
        if state.get("moved"):
            return stored["time"].max() >= M - pd.Timedelta(minutes=1)
        if state["polls"] is not None and _ohlcv_polls(fake_exchange) >= state["polls"] + 3:
            assert stored["time"].max() == M - pd.Timedelta(minutes=2), "a candle still open on the exchange stored"
            state["moved"] = True
            fake_exchange.set_now(MS + 62_000)  # exchange at M + 57 s: M-1 min closed there, M still open
        return False

    assert asyncio.run(run_worker_until(worker, step, timeout=60)) == 0
    _assert_recorded(clean_db, M - pd.Timedelta(hours=2), M)  # M itself (open on the exchange) not stored


def test_exchange_clock_ahead_of_the_worker_stores_what_the_exchange_closed(clean_db, ingest_engine, fake_exchange):
    fake_exchange.set_now(MS - 2_000)  # the worker: 2 s before M (the M-1 min candle still open by its clock)
    fake_exchange.set_skew(5_000)  # the exchange: 3 s after M, the M-1 min candle closed and M open there
    worker = _worker(fake_exchange, ingest_engine)
    done = lambda: len(s := stored_candles(clean_db, BTC)) and s["time"].max() >= M - pd.Timedelta(minutes=1)  # noqa: E731
    assert asyncio.run(run_worker_until(worker, done, timeout=60)) == 0
    _assert_recorded(clean_db, M - pd.Timedelta(hours=2), M)


@pytest.mark.parametrize("skew", [-5_000, 5_000])
def test_a_candle_stored_before_it_closed_is_corrected(clean_db, ingest_engine, fake_exchange, skew):
    """A row an earlier worker stored while the exchange still had it open (values as at its open) is replaced by the
    exchange's final values, and the 15-minute and hourly rollups of its hour are recomputed."""
    early = recorded_candles(BTC, M - pd.Timedelta(minutes=1), M).assign(exchange="binanceusdm")
    early = early.assign(high=early["open"], low=early["open"], close=early["open"], volume=0.0)
    write_candles(clean_db, early)
    fake_exchange.set_now(MS + 70_000)  # the exchange at M + 65 s or M + 75 s: M-1 min and M closed there
    fake_exchange.set_skew(skew)
    worker = _worker(fake_exchange, ingest_engine)

    def corrected() -> bool:
        stored = stored_candles(clean_db, BTC).set_index("time")
        return (
            (M - pd.Timedelta(minutes=1)) in stored.index
            and M in stored.index
            and stored.loc[M - pd.Timedelta(minutes=1), "volume"] > 0
        )

    assert asyncio.run(run_worker_until(worker, corrected, timeout=60)) == 0
    stored = _assert_recorded(clean_db, M - pd.Timedelta(hours=2), M + pd.Timedelta(minutes=1))
    bucket = M.floor("15min")
    minutes = stored[stored["time"] >= bucket]
    with clean_db.connect() as conn:
        rollup = conn.execute(
            text("SELECT high, low, close, volume FROM prices WHERE symbol = :s AND timeframe = '15m' AND time = :t"),
            {"s": BTC, "t": bucket.to_pydatetime()},
        ).one()
    assert rollup.high == minutes["high"].max() and rollup.low == minutes["low"].min()
    assert rollup.close == minutes["close"].iloc[-1] and rollup.volume == pytest.approx(minutes["volume"].sum())
