"""Open interest and settled funding of the whole funding universe (issue 8, items 1 and 3): real ccxt clients
against the fake exchange, real TimescaleDB.

The fake re-serves Hyperliquid's recorded hourly USD open interest on every venue (``tests/fake_exchange/oi_source.py``,
derived and labelled so): expected values are computed here from the recorded files (the cross-venue open interest
and the fake's 1-hour candles) and the store's recorded settlements, never from the ingest code under test."""

from __future__ import annotations

import asyncio
import csv
import gzip

import pandas as pd
import pytest
from sqlalchemy import text

from ingest.recorded import CROSS_VENUE_OPEN_INTEREST, RECORDED_DIR
from ingest.worker import Worker
from settings import load_settings
from tests.fake_exchange.store import CROSS_VENUE_CANDLES_FILE, DATA_DIR, HOUR_MS
from tests.ingest_helpers import run_worker_until

#: 2026-02-15 08:30 UTC: inside the recorded open interest (from 2025-12-07) and the fake's 1 h candles (from 02-01).
NOW = pd.Timestamp("2026-02-15 08:30", tz="UTC")
NOW_MS = int(NOW.timestamp() * 1000)
#: Every venue's open interest is that of 08:00 (the newest hour at or before now with a 1 h candle closing then).
OI_HOUR_MS = int(pd.Timestamp("2026-02-15 08:00", tz="UTC").timestamp() * 1000)
VENUES = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx", "hyperliquid": "hyperliquid"}
SETTLE = {"binanceusdm": "USDT", "bybit": "USDT", "okx": "USDT", "hyperliquid": "USDC"}
#: Whose recorded 1 h close divides the USD value into base units on each venue (Hyperliquid: Binance's).
PRICE_VENUE = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx", "hyperliquid": "binance"}


def _settings(fake, **extra):
    env = {"ALPHAPULSE_EXCHANGE_BASE_URL": fake.url, "ALPHAPULSE_EXCHANGES": ",".join(VENUES),
           "ALPHAPULSE_SYMBOLS": "BTC", "ALPHAPULSE_BACKFILL_DAYS": "1", "ALPHAPULSE_FUNDING_POLL_SECONDS": "1",
           "ALPHAPULSE_OHLCV_POLL_SECONDS": "1", "ALPHAPULSE_BACKOFF_SCALE": "0.01",
           "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS": "2", "ALPHAPULSE_METRICS_INTERVAL_SECONDS": "0.5"}
    return load_settings({**env, **extra})


def _csv(path) -> list[dict]:
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def _recorded_oi() -> dict[tuple[str, str], tuple[float, float]]:
    """``{(exchange, symbol): (USD value, base units)}`` every venue serves at NOW, from the recorded files:
    Hyperliquid's ``oi_usd`` of 08:00 and that value / the price venue's 1 h close of the candle closing at 08:00."""
    closes = {(r["venue"], r["coin"]): float(r["close"]) for r in _csv(DATA_DIR / CROSS_VENUE_CANDLES_FILE)
              if int(r["open_time_ms"]) == OI_HOUR_MS - HOUR_MS}
    values = {r["coin"]: float(r["oi_usd"]) for r in _csv(RECORDED_DIR / CROSS_VENUE_OPEN_INTEREST)
              if r["venue"] == "hyperliquid" and pd.Timestamp(r["timestamp"]).value // 10**6 == OI_HOUR_MS}
    return {(e, f"{coin}/{SETTLE[e]}:{SETTLE[e]}"): (value, value / closes[(PRICE_VENUE[e], coin)])
            for e in VENUES for coin, value in values.items()}


def _stored_oi(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT * FROM open_interest WHERE source = 'live' ORDER BY exchange, symbol, time"),
                           conn)


def _pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["exchange"], frame["symbol"], strict=True))


def _rejected(engine, stream: str, reason: str) -> dict[str, float]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT labels->>'exchange', max(value) FROM system_metrics WHERE metric = 'rows_rejected' "
            "AND labels->>'stream' = :s AND labels->>'reason' = :r GROUP BY 1"), {"s": stream, "r": reason}).all())


def _run(worker, condition, timeout=60.0):
    return asyncio.run(run_worker_until(worker, condition, timeout=timeout))


def test_a_live_cycle_stores_open_interest_of_every_symbol_of_each_venue(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    worker = Worker(_settings(fake_exchange), clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    expected = _recorded_oi()
    assert len(expected) == 20  # 5 coins with recorded open interest × 4 venues
    assert _run(worker, lambda: set(expected) <= _pairs(_stored_oi(clean_db))) == 0
    stored = _stored_oi(clean_db)
    assert _pairs(stored) == set(expected)  # Binance's BNB, XRP, ADA have none recorded: refused, left out
    for row in stored.itertuples():
        value, base = expected[(row.exchange, row.symbol)]
        assert row.open_interest_value == pytest.approx(value, rel=1e-9), row
        if row.exchange == "okx":  # OKX's contract value is not recorded: contracts unknown, notional as sent
            assert pd.isna(row.open_interest_contracts) and pd.isna(row.open_interest_base), row
            assert row.open_interest_value == value, row
            continue
        assert row.open_interest_base == pytest.approx(base, rel=1e-9), row  # contractSize 1 on these venues
        assert row.open_interest_contracts == row.open_interest_base, row
        if row.exchange == "bybit":  # openInterestValue verbatim
            assert row.open_interest_value == value, row
    stamped = stored[stored["exchange"].isin(["binanceusdm", "okx"])]  # their answers carry the hour's time
    assert set(stamped["time"]) == {pd.Timestamp(OI_HOUR_MS, unit="ms", tz="UTC")}
    # one all-symbol request per venue and cycle; Binance one request per universe symbol
    paths = [r.path for r in fake_exchange.requests]
    assert "/v5/market/open-interest" not in paths
    assert all("instId" not in r.query for r in fake_exchange.requests if r.path == "/api/v5/public/open-interest")
    binance = pd.Series([r.query["symbol"] for r in fake_exchange.requests if r.path == "/fapi/v1/openInterest"])
    counts = binance.value_counts()
    assert {s: counts[s] for s in ("BNBUSDT", "XRPUSDT", "ADAUSDT")} == {"BNBUSDT": 1, "XRPUSDT": 1, "ADAUSDT": 1}
    served = counts.drop(["BNBUSDT", "XRPUSDT", "ADAUSDT"])
    assert len(served) == 5 and served.max() - served.min() <= 1  # each symbol once per cycle


def test_a_malformed_open_interest_entry_is_rejected_and_counted_while_the_others_are_stored(clean_db,
                                                                                            fake_exchange):
    fake_exchange.set_now(NOW_MS)
    spoiled = {("binanceusdm", "SOL/USDT:USDT"), ("bybit", "ETH/USDT:USDT"), ("okx", "DOGE/USDT:USDT"),
               ("hyperliquid", "HYPE/USDC:USDC")}
    for exchange, symbol in spoiled:
        fake_exchange.spoil_open_interest(exchange, symbol)
    worker = Worker(_settings(fake_exchange), clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    expected = set(_recorded_oi()) - spoiled

    def done() -> bool:
        rejected = _rejected(clean_db, "open_interest", "open_interest_missing")
        return expected <= _pairs(_stored_oi(clean_db)) and set(rejected) == set(VENUES)

    assert _run(worker, done) == 0
    assert _pairs(_stored_oi(clean_db)) == expected
    assert all(count >= 1 for count in _rejected(clean_db, "open_interest", "open_interest_missing").values())


def _settled(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT time, exchange, symbol, funding_rate FROM funding_rates WHERE settled "
                                "ORDER BY exchange, symbol, time"), conn)


def test_settled_funding_of_the_universe_is_fetched_once_a_settlement_is_due(clean_db, fake_exchange):
    start = pd.Timestamp("2026-02-15 07:59:30", tz="UTC")
    fake_exchange.set_now(int(start.timestamp() * 1000), running=True)
    worker = Worker(_settings(fake_exchange), clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    store = fake_exchange.view.store
    due = start.value // 10**6 + 30_000  # 08:00
    expected = {}  # the settlement each venue recorded for each coin but the configured BTC at 08:00 (+ its jitter)
    for exchange, venue in VENUES.items():
        for (v, coin), series in store.funding.items():
            if v == venue and coin != "BTC" and (venue != "binance" or coin in store.bases):
                i, j = series.span(due, due + 60_000)
                expected.update({(exchange, f"{coin}/{SETTLE[exchange]}:{SETTLE[exchange]}", series.times[k]):
                                 float(series.rows[k][0]) for k in range(i, j)})
    assert len(expected) == 16  # ETH, SOL, DOGE, HYPE settle at 08:00 on all four venues

    def keyed(frame):
        return {(r.exchange, r.symbol, r.time.value // 10**6): r.funding_rate for r in frame.itertuples()}

    assert _run(worker, lambda: set(expected) <= set(keyed(_settled(clean_db))), timeout=90) == 0
    stored = _settled(clean_db)
    universe = stored[~stored["symbol"].str.startswith("BTC/")]
    assert keyed(universe) == expected  # the due settlement, as recorded; no backfill of the universe symbols
    assert (stored["symbol"].str.startswith("BTC/")).any()  # the configured symbol keeps its catch-up backfill
    history = [r for r in fake_exchange.requests if r.path == "/fapi/v1/fundingRate"]
    assert any("symbol" not in r.query for r in history)  # Binance: the all-symbol form
    assert {r.query["symbol"] for r in history if "symbol" in r.query} == {"BTCUSDT"}
