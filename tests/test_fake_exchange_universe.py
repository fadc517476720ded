"""The fake exchange's all-symbol open-interest and settled-funding answers, through real ccxt async clients.

Expected values are read here from the recorded files (the bundled cross-venue open interest, the fake's 1-hour
candles and funding), independently of the server's own loader; the open interest every venue serves is Hyperliquid's
recording (derived on Binance, Bybit and OKX, see ``tests/fake_exchange/oi_source.py``)."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from ingest.recorded import CROSS_VENUE_OPEN_INTEREST, RECORDED_DIR
from tests.fake_exchange.store import CROSS_VENUE_CANDLES_FILE, CROSS_VENUE_FUNDING_FILE, DATA_DIR, HOUR_MS
from tests.fake_exchange_client import MARKET_TYPES, recorded_rows, run

NOW_MS = int(pd.Timestamp("2026-02-15 08:30", tz="UTC").timestamp() * 1000)
#: The hour every venue's open interest is served from at NOW (a 1 h candle of each venue closes then).
OI_HOUR_MS = int(pd.Timestamp("2026-02-15 08:00", tz="UTC").timestamp() * 1000)
COINS = ("BTC", "DOGE", "ETH", "HYPE", "SOL")


def _values() -> dict[str, float]:
    """Hyperliquid's recorded USD open interest of each coin at :data:`OI_HOUR_MS`."""
    return {r["coin"]: float(r["oi_usd"]) for r in recorded_rows(RECORDED_DIR / CROSS_VENUE_OPEN_INTEREST)
            if r["venue"] == "hyperliquid" and pd.Timestamp(r["timestamp"]).value // 10**6 == OI_HOUR_MS}


def _closes(venue: str) -> dict[str, float]:
    """Close of ``venue``'s recorded 1 h candle closing at :data:`OI_HOUR_MS`, by coin."""
    return {r["coin"]: float(r["close"]) for r in recorded_rows(DATA_DIR / CROSS_VENUE_CANDLES_FILE)
            if r["venue"] == venue and int(r["open_time_ms"]) == OI_HOUR_MS - HOUR_MS}


def test_open_interest_of_every_symbol_in_one_answer_per_venue(fake_exchange):
    fake_exchange.set_now(NOW_MS)
    values = _values()
    assert sorted(values) == list(COINS)
    okx = run("okx", fake_exchange.url, lambda c: c.fetch_open_interests())
    bybit = run("bybit", fake_exchange.url, lambda c: c.fetch_tickers())
    hyperliquid = run("hyperliquid", fake_exchange.url, lambda c: c.fetch_open_interests())
    paths = [(r.path, r.query.get("type")) for r in fake_exchange.requests]
    assert paths.count(("/api/v5/public/open-interest", None)) == 1 and paths.count(("/v5/market/tickers", None)) == 1
    bybit_close, binance_close = _closes("bybit"), _closes("binance")
    for coin, value in values.items():
        entry = okx[f"{coin}/USDT:USDT"]
        assert (entry["openInterestValue"], entry["timestamp"], entry["openInterestAmount"]) == (value, OI_HOUR_MS,
                                                                                                 None)
        info = bybit[f"{coin}/USDT:USDT"]["info"]
        assert float(info["openInterestValue"]) == value
        assert float(info["openInterest"]) == pytest.approx(value / bybit_close[coin], rel=1e-9)
        entry = hyperliquid[f"{coin}/USDC:USDC"]
        assert float(entry["info"]["markPx"]) == binance_close[coin]  # Binance's close, re-served (derived)
        assert entry["openInterestAmount"] == pytest.approx(value / binance_close[coin], rel=1e-9)


def test_spoiled_open_interest_is_nan_in_every_answer_for_that_symbol_only(fake_exchange):
    fake_exchange.set_now(NOW_MS)
    for exchange in MARKET_TYPES:
        fake_exchange.spoil_open_interest(exchange, "ETH")
    okx = run("okx", fake_exchange.url, lambda c: c.fetch_open_interests())
    bybit = run("bybit", fake_exchange.url, lambda c: c.fetch_tickers())
    hyperliquid = run("hyperliquid", fake_exchange.url, lambda c: c.fetch_open_interests())
    binance = run("binanceusdm", fake_exchange.url, lambda c: asyncio.gather(
        c.fetch_open_interest("ETH/USDT:USDT"), c.fetch_open_interest("BTC/USDT:USDT")))
    assert (okx["ETH/USDT:USDT"]["info"]["oiUsd"], bybit["ETH/USDT:USDT"]["info"]["openInterestValue"],
            hyperliquid["ETH/USDC:USDC"]["info"]["openInterest"], binance[0]["info"]["openInterest"]) == ("NaN",) * 4
    assert float(okx["BTC/USDT:USDT"]["info"]["oiUsd"]) == _values()["BTC"]
    assert float(bybit["BTC/USDT:USDT"]["info"]["openInterestValue"]) == _values()["BTC"]
    assert hyperliquid["BTC/USDC:USDC"]["info"]["openInterest"] != "NaN"
    assert binance[1]["info"]["openInterest"] != "NaN"


def test_binance_funding_history_without_symbol_merges_every_symbol_by_time(fake_exchange):
    fake_exchange.set_now(NOW_MS)
    since = NOW_MS - 2 * 86_400_000
    expected = sorted((int(r["funding_time_ms"]), f"{r['coin']}/USDT:USDT", float(r["funding_rate"]))
                      for r in recorded_rows(DATA_DIR / CROSS_VENUE_FUNDING_FILE)
                      if r["venue"] == "binance" and since <= int(r["funding_time_ms"]) <= NOW_MS)
    assert {s for _, s, _ in expected} == {f"{c}/USDT:USDT" for c in COINS}

    def fetch(limit):
        return run("binanceusdm", fake_exchange.url, lambda c: c.fetch_funding_rate_history(None, since, limit))

    assert [(e["timestamp"], e["symbol"], e["fundingRate"]) for e in fetch(1000)] == expected
    assert [(e["timestamp"], e["symbol"], e["fundingRate"]) for e in fetch(3)] == expected[:3]  # paged oldest first
    assert all("symbol" not in r.query for r in fake_exchange.requests if r.path == "/fapi/v1/fundingRate")
