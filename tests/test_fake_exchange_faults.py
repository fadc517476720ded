"""Faults of the local fake exchange as real ccxt async clients see them: HTTP errors, timeouts and resets raise
ccxt's retryable classes; cut or impossible payloads reach the caller unflagged (validation downstream catches
them); unknown symbols are ``BadSymbol``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.fake_exchange.server import FakeExchange
from tests.fake_exchange_client import BINANCE_NOW, BTC, OKX_NOW, run

PROBES = {
    "binanceusdm": ("/fapi/v1/klines", BINANCE_NOW, "1m"),
    "bybit": ("/v5/market/kline", BINANCE_NOW, "1h"),
    "okx": ("/api/v5/market/candles", OKX_NOW, "1h"),
}
#: (fault kind, how many to arm, the ccxt class expected). ``reset`` needs two: aiohttp retries a GET once
#: when a reused keep-alive connection is reset.
FAULTS = [
    ("429", 1, ccxt.RateLimitExceeded),
    ("500", 1, ccxt.ExchangeNotAvailable),
    ("502", 1, ccxt.ExchangeNotAvailable),
    ("503", 1, ccxt.ExchangeNotAvailable),
    ("timeout", 1, ccxt.RequestTimeout),
    ("reset", 2, ccxt.ExchangeNotAvailable),
]
#: Binance's 429 is mapped by ccxt from the HTTP status alone, to DDoSProtection (RateLimitExceeded's sibling).
EXPECTED_OVERRIDES = {("binanceusdm", "429"): ccxt.DDoSProtection}


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "bybit", "okx"])
def test_faults_surface_as_ccxt_errors(fake_exchange: FakeExchange, exchange_id: str) -> None:
    path, now, timeframe = PROBES[exchange_id]
    fake_exchange.set_now(now)

    async def body(c: Any) -> list[tuple[str, type, int]]:
        seen = []
        for kind, count, _ in FAULTS:
            fake_exchange.fail_next(path, kind, count, delay_s=1.0)
            try:
                await c.fetch_ohlcv(BTC, timeframe, None, 5)
            except ccxt.BaseError as exc:
                seen.append((kind, type(exc), len(await c.fetch_ohlcv(BTC, timeframe, None, 5))))
        return seen

    seen = run(exchange_id, fake_exchange.url, body, timeout=300)
    expected = [(kind, EXPECTED_OVERRIDES.get((exchange_id, kind), error), 5) for kind, _, error in FAULTS]
    assert seen == expected  # each fault raised its class once, and the following call got 5 candles
    assert all(issubclass(error, ccxt.NetworkError) for _, error, _ in seen)  # all retryable


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "bybit", "okx"])
def test_malformed_and_bad_payloads_reach_the_caller_unflagged(fake_exchange: FakeExchange, exchange_id: str) -> None:
    """ccxt 4.5 raises nothing for a cut JSON body or impossible values: validation downstream must catch them."""
    path, now, timeframe = PROBES[exchange_id]
    fake_exchange.set_now(now)

    async def body(c: Any) -> tuple[list, list, list]:
        fake_exchange.fail_next(path, "malformed_json")
        cut = await c.fetch_ohlcv(BTC, timeframe, None, 5)
        fake_exchange.fail_next(path, "bad_payload")
        spoiled = await c.fetch_ohlcv(BTC, timeframe, None, 5)
        return cut, spoiled, await c.fetch_ohlcv(BTC, timeframe, None, 5)

    cut, spoiled, clean = run(exchange_id, fake_exchange.url, body)
    assert all(row[1] is None for row in cut)  # no usable candle (Bybit/OKX: none at all)
    changed = [(bad, good) for bad, good in zip(spoiled, clean, strict=True) if bad != good]
    assert len(changed) == 1  # the first candle of the exchange's list (Bybit/OKX send newest first)
    bad, good = changed[0]
    assert bad[2] < bad[3] and bad[:2] + bad[4:] == good[:2] + good[4:] and (bad[2], bad[3]) == (good[3], good[2])


@pytest.mark.parametrize(
    ("exchange_id", "call"),
    [
        ("binanceusdm", lambda c: c.fapiPublicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})),
        ("bybit", lambda c: c.publicGetV5MarketKline({"category": "linear", "symbol": "NOPEUSDT", "interval": "60"})),
        ("okx", lambda c: c.publicGetMarketCandles({"instId": "NOPE-USDT-SWAP"})),
    ],
)
def test_unknown_symbol_is_bad_symbol(fake_exchange: FakeExchange, exchange_id: str, call: Callable) -> None:
    """Each exchange's own error body for an unknown market id; ccxt turns all three into BadSymbol."""
    with pytest.raises(ccxt.BadSymbol):
        run(exchange_id, fake_exchange.url, call)


def test_running_clock_advances_with_wall_time(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_now(BINANCE_NOW, running=True)
    time.sleep(0.05)
    assert BINANCE_NOW + 40 <= fake_exchange.now_ms() < BINANCE_NOW + 5_000
    fake_exchange.set_now(BINANCE_NOW)
    assert fake_exchange.now_ms() == BINANCE_NOW


def test_bad_payload_turns_prices_into_nan(fake_exchange: FakeExchange) -> None:
    fake_exchange.fail_next("/fapi/v1/premiumIndex", "bad_payload")
    rate = run("binanceusdm", fake_exchange.url, lambda c: c.fetch_funding_rate(BTC))
    assert math.isnan(rate["markPrice"]) and math.isnan(rate["fundingRate"])
