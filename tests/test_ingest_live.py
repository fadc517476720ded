"""Live worker and backfill against the local fake exchange (real ccxt over HTTP) and real TimescaleDB."""

from __future__ import annotations

import asyncio
import logging
import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import make_url, text

from db.engine import make_engine
from ingest.backfill import backfill_symbol
from ingest.exchange import ExchangeClient, Unsupported
from ingest.pipeline import ingest_candles, ingest_funding
from ingest.worker import Worker
from settings import load_settings
from tests.fake_exchange.store import DEFAULT_NOW_MS
from tests.ingest_helpers import (
    HOUR_MS,
    TcpProxy,
    recorded_candles,
    recorded_funding_state,
    run_worker_until,
    stored_candles,
)

NOW = pd.Timestamp(DEFAULT_NOW_MS, unit="ms", tz="UTC")
BTC, HYPE = "BTC/USDT:USDT", "HYPE/USDT:USDT"


def _settings(fake, **extra):
    env = {
        "ALPHAPULSE_EXCHANGE_BASE_URL": fake.url,
        "ALPHAPULSE_EXCHANGES": "binanceusdm",
        "ALPHAPULSE_SYMBOLS": "BTC",
        "ALPHAPULSE_FUNDING_UNIVERSE": "symbols",
        "ALPHAPULSE_BACKFILL_DAYS": "1",
        "ALPHAPULSE_FUNDING_POLL_SECONDS": "1",
        "ALPHAPULSE_OHLCV_POLL_SECONDS": "1",
        "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5",
        "ALPHAPULSE_BACKOFF_SCALE": "0.01",
        "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS": "1",
    }
    env.update(extra)
    return load_settings(env)


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _candles_done(engine, symbol=BTC, expected=1439):
    return lambda: (
        _count(engine, "SELECT count(*) FROM prices WHERE symbol = :s AND timeframe = '1m'", s=symbol) >= expected
    )


def test_live_cycle_writes_exactly_the_recorded_values(clean_db, fake_exchange):
    # Three spellings of two symbols: stored under one unified spelling each.
    settings = _settings(fake_exchange, ALPHAPULSE_SYMBOLS="btc,HYPEUSDT,BTC/USDT")
    worker = Worker(settings, clean_db, clock=lambda: fake_exchange.now_ms() / 1000)

    def done():
        return (
            _candles_done(clean_db)()
            and _count(clean_db, "SELECT count(*) FROM funding_rates WHERE NOT settled") >= 2
            and _count(clean_db, "SELECT count(DISTINCT metric) FROM system_metrics") >= 10
        )

    assert asyncio.run(run_worker_until(worker, done)) == 0
    # 1-minute candles: the recorded day before now, the still-open 08:38 candle dropped.
    expected = recorded_candles(BTC, NOW - pd.Timedelta(days=1), NOW.floor("1min"))
    stored = stored_candles(clean_db, BTC)
    assert len(stored) == len(expected) == 1439
    for col in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(stored[col].to_numpy(), expected[col].to_numpy())
    # Current funding = what the fake derives from the recorded rows (last settled rate, last closed candle's close
    # as mark price, no index price), computed here from the files; intervals 8 h and 4 h kept.
    with clean_db.connect() as conn:
        predicted = {
            r.symbol: r
            for r in conn.execute(
                text("SELECT * FROM funding_rates WHERE NOT settled AND time = :t"), {"t": NOW.to_pydatetime()}
            )
        }
        symbols = set(conn.execute(text("SELECT DISTINCT symbol FROM funding_rates")).scalars())
        settled_intervals = dict(
            conn.execute(
                text("SELECT symbol, max(funding_interval_hours) FROM funding_rates WHERE settled GROUP BY 1")
            ).all()
        )
    assert symbols == {BTC, HYPE}
    for symbol, base, hours in ((BTC, "BTC", 8), (HYPE, "HYPE", 4)):
        row, src = predicted[symbol], recorded_funding_state(base, DEFAULT_NOW_MS, hours * HOUR_MS)
        assert row.funding_rate == src.rate
        assert row.mark_price == src.mark and (row.index_price is None or math.isnan(row.index_price))
        assert row.next_funding_time == pd.Timestamp(src.next_ms, unit="ms", tz="UTC")
    assert predicted[BTC].funding_interval_hours == 8.0 and predicted[HYPE].funding_interval_hours == 4.0
    assert settled_intervals == {BTC: 8.0, HYPE: 4.0}
    assert _count(clean_db, "SELECT count(*) FROM prices WHERE timeframe = '1h'") > 0


def test_backfill_paginates_resumes_and_fills_a_middle_hole(clean_db, fake_exchange):
    settings = _settings(fake_exchange)
    since, until = NOW.floor("1min") - pd.Timedelta(hours=6), NOW.floor("1min")  # 360 candles
    hole = (NOW - pd.Timedelta(hours=2), NOW - pd.Timedelta(hours=1))  # hides the 60 candles 06:39 … 07:38
    fake_exchange.hide("binanceusdm", BTC, "1m", int(hole[0].timestamp() * 1000), int(hole[1].timestamp() * 1000))
    pages = []

    async def sink(kind, frame, exchange, stream):
        pages.append((kind, len(frame)))
        ingest = ingest_candles if kind == "candles" else ingest_funding
        await asyncio.to_thread(ingest, clean_db, frame, settings)
        if len(pages) == 2:
            raise KeyboardInterrupt("simulated crash after two pages")

    async def backfill(page_sink):
        async with ExchangeClient("binanceusdm", settings) as client:
            return await backfill_symbol(
                client, clean_db, BTC, since.to_pydatetime(), until.to_pydatetime(), page_sink, page_limit=100
            )

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(backfill(sink))
    assert len(stored_candles(clean_db, BTC)) == 200  # two pages of 100, then the crash

    pages.clear()
    fake_exchange.requests.clear()

    async def plain_sink(kind, frame, exchange, stream):
        pages.append((kind, len(frame)))
        ingest = ingest_candles if kind == "candles" else ingest_funding
        await asyncio.to_thread(ingest, clean_db, frame, settings)

    asyncio.run(backfill(plain_sink))  # resumes at the newest of the 200 stored candles; the exchange hides the hole
    first = [r for r in fake_exchange.requests if r.path.endswith("/klines")][0]
    assert int(first.query["startTime"]) == int((since + pd.Timedelta(minutes=199)).timestamp() * 1000)
    stored = stored_candles(clean_db, BTC)
    assert len(stored) == 360 - 60

    fake_exchange.reset()  # the exchange has the hour again: only the hole is fetched
    asyncio.run(backfill(plain_sink))
    klines = [r for r in fake_exchange.requests if r.path.endswith("/klines")]
    assert int(klines[0].query["startTime"]) == int(hole[0].ceil("1min").timestamp() * 1000)
    expected = recorded_candles(BTC, since, until)
    stored = stored_candles(clean_db, BTC)
    np.testing.assert_array_equal(stored["time"].to_numpy(), expected["time"].to_numpy())
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())

    fake_exchange.requests.clear()  # nothing missing: a rerun asks only for the newest stored candle again
    asyncio.run(backfill(plain_sink))
    klines = [r for r in fake_exchange.requests if r.path.endswith("/klines")]
    assert [int(r.query["startTime"]) for r in klines] == [int((until - pd.Timedelta(minutes=1)).timestamp() * 1000)]
    assert ingest_candles(clean_db, expected.assign(exchange="binanceusdm"), settings).written == 0


def test_faults_are_survived_and_counted(clean_db, fake_exchange):
    settings = _settings(fake_exchange)
    for kind in ("429", "500", "malformed_json"):
        fake_exchange.fail_next("/fapi/v1/premiumIndex", kind)
    fake_exchange.fail_next("/fapi/v1/premiumIndex", "timeout", delay_s=2.0)
    worker = Worker(settings, clean_db, clock=lambda: fake_exchange.now_ms() / 1000)

    def done():
        return (
            _count(clean_db, "SELECT count(*) FROM funding_rates WHERE NOT settled") >= 1
            and _count(clean_db, "SELECT coalesce(sum(value), 0) FROM system_metrics WHERE metric = 'fetch_errors'")
            >= 4
        )

    assert asyncio.run(run_worker_until(worker, done)) == 0
    with clean_db.connect() as conn:
        errors = dict(
            conn.execute(
                text(
                    "SELECT labels->>'error', sum(value) FROM system_metrics WHERE metric = 'fetch_errors' "
                    "AND labels->>'stream' = 'funding' GROUP BY 1"
                )
            ).all()
        )
    assert errors == {"DDoSProtection": 1, "ExchangeNotAvailable": 1, "BadResponse": 1, "RequestTimeout": 1}
    assert _count(clean_db, "SELECT count(*) FROM funding_rates WHERE NOT settled") == 1


def test_database_outage_loses_and_duplicates_nothing(clean_db, fake_exchange, db_url):
    url = make_url(db_url)
    proxy = TcpProxy((url.host, url.port)).restore()
    engine = make_engine(proxy.url_for(db_url))
    fake_exchange.set_now(DEFAULT_NOW_MS - 30 * 60_000)  # start 30 minutes before the default now
    settings = _settings(fake_exchange, ALPHAPULSE_SYMBOLS="BTC")
    worker = Worker(settings, engine, clock=lambda: fake_exchange.now_ms() / 1000)
    state = {"phase": 0}

    def step():
        stored = _count(clean_db, "SELECT count(*) FROM prices WHERE symbol = :s AND timeframe = '1m'", s=BTC)
        if state["phase"] == 0 and stored >= 1439:  # caught up: cut the database, move the clock on
            proxy.cut()
            fake_exchange.set_now(DEFAULT_NOW_MS)
            state["phase"] = 1
        elif state["phase"] == 1 and worker.buffer.rows >= 30:  # the 30 new candles wait in the buffer
            state["phase"] = 2
            proxy.restore()
        return state["phase"] == 2 and stored >= 1469 and worker.buffer.rows == 0

    try:
        assert asyncio.run(run_worker_until(worker, step, timeout=60)) == 0
    finally:
        proxy.cut()
        engine.dispose()
    start = NOW - pd.Timedelta(minutes=30) - pd.Timedelta(days=1)  # the catch-up window of the first clock
    expected = recorded_candles(BTC, start, NOW.floor("1min"))
    stored = stored_candles(clean_db, BTC)
    assert state["phase"] == 2
    np.testing.assert_array_equal(stored["time"].to_numpy(), expected["time"].to_numpy())
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())


def test_unreachable_exchange_is_reported_per_backoff_step_and_never_crashes(clean_db, caplog):
    settings = load_settings(
        {
            "ALPHAPULSE_EXCHANGE_BASE_URL": "http://127.0.0.1:9",
            "ALPHAPULSE_EXCHANGES": "binanceusdm,okx",
            "ALPHAPULSE_BACKOFF_SCALE": "0.05",
            "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5",
        }
    )
    worker = Worker(settings, clean_db)
    with caplog.at_level(logging.WARNING, logger="ingest"):
        status = asyncio.run(run_worker_until(worker, lambda: False, timeout=2.5))
    assert status == 0
    lines = [r for r in caplog.records if r.name == "ingest.worker" and "retry" in r.getMessage()]
    assert {r.getMessage().split()[0] for r in lines} == {"binanceusdm", "okx"}
    assert all(r.exc_info is None and "ExchangeNotAvailable" in r.getMessage() for r in lines)
    assert len(lines) >= 4


def test_unknown_symbol_maps_to_unsupported_and_stops_only_that_symbol(fake_exchange):
    settings = _settings(fake_exchange)

    async def fetch():
        async with ExchangeClient("binanceusdm", settings) as client:
            await client.load_markets()
            with pytest.raises(Unsupported) as info:
                await client.fetch_ohlcv("NOPE/USDT:USDT", None, 5)
            return info.value, await client.fetch_ohlcv(BTC, None, 5)

    error, candles = asyncio.run(fetch())
    assert error.error_class == "BadSymbol" and error.exchange == "binanceusdm"
    assert isinstance(error.__cause__, Exception)  # the ccxt exception is chained
    assert len(candles) == 5
