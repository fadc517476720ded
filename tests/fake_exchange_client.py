"""Helpers of the fake-exchange tests: real ccxt async clients pointed at the fake exchange, and the recorded files
read independently of the server's own loader (expected values)."""

from __future__ import annotations

import asyncio
import csv
import gzip
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt

from ingest.ccxt_urls import override_api_urls
from tests.fake_exchange.store import DATA_DIR

BTC = "BTC/USDT:USDT"
HYPE = "HYPE/USDT:USDT"
MINUTE, HOUR = 60_000, 3_600_000
#: Instants inside the recordings: Binance 1m klines cover 2025-06-16/17; OKX data starts 2025-12.
BINANCE_NOW = 1750160000000  # 2025-06-17 11:33:20 UTC
OKX_NOW = 1771000000000  # 2026-02-13 16:26:40 UTC
#: Client options: only the market types served (keeps ccxt's own request throttle out of load_markets).
MARKET_TYPES = {"binanceusdm": ["linear"], "bybit": ["linear"], "okx": ["swap"], "hyperliquid": ["swap"]}


def recorded_rows(name: str | Path) -> list[dict[str, str]]:
    """The rows of a gzipped CSV of ``tests/data/fake_exchange`` (or an absolute path), as dicts of strings."""
    with gzip.open(DATA_DIR / name, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def recorded_candles(name: str, **match: str) -> list[list[float]]:
    """``[open_ms, o, h, l, c, v]`` rows of a recorded candle file whose columns equal ``match``, by time."""
    rows = [r for r in recorded_rows(name) if all(r[k] == v for k, v in match.items())]
    out = [[int(r["open_time_ms"]), *(float(r[k]) for k in ("open", "high", "low", "close", "volume"))] for r in rows]
    return sorted(out)


def recorded_funding(name: str | Path, **match: str) -> list[tuple[int, float]]:
    """``(funding_time_ms, rate)`` of a recorded funding file whose columns equal ``match``, by time."""
    rows = [r for r in recorded_rows(name) if match.items() <= r.items()]
    return sorted({(int(r["funding_time_ms"]), float(r["funding_rate"])) for r in rows})


def run(exchange_id: str, url: str, body: Callable[[Any], Awaitable[Any]], **config: Any) -> Any:
    """Run ``body(client)`` with a real ccxt async client of ``exchange_id`` pointed at the server ``url``
    (markets loaded first)."""

    async def main() -> Any:
        options = {"fetchMarkets": {"types": MARKET_TYPES[exchange_id]}}
        client = getattr(ccxt, exchange_id)({"timeout": 3000, "enableRateLimit": False, "options": options, **config})
        override_api_urls(client, url)
        try:
            await client.load_markets()
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())
