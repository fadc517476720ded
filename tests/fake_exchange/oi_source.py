"""The open interest every venue of the fake exchange serves: **Hyperliquid's** recorded hourly USD open interest,
re-served in each venue's shape — derived for every venue but Hyperliquid itself.

Source: the bundled ``data/recorded/cross_venue_open_interest_usd_7_venues_2025-12-07_2026-03-07.csv.gz``
(Unlicense; see ``data/recorded/PROVENANCE.md``): Hyperliquid's hourly open interest in USD, 2025-12-07 11:00 →
2026-03-07 10:00 UTC, coins BTC ETH SOL DOGE HYPE. No licensed hourly open interest of Binance, Bybit or OKX exists
(the same file holds one snapshot of each, 2026-03-07 ~10:49 UTC, after every recorded candle, so it cannot be
expressed in base units; it is not served).

A row of coin ``c`` stamped ``t`` is served on a venue when that venue's recorded 1 h candle closing at ``t`` (open
``t`` − 1 h) is in the fake's data (``price_venue``: Binance for Binance and Hyperliquid, which has no recorded
candles in that window; Bybit; OKX):

* ``value`` = Hyperliquid's recorded ``oi_usd`` (string verbatim; USD read as USDT);
* ``close`` = that candle's close (recorded string; **another venue's price** when served as Hyperliquid's mark);
* ``amount`` = ``value`` / ``close`` in base units, 8 decimals (derived).

So the numbers are real Hyperliquid positioning, never Binance's, Bybit's or OKX's own open interest.
"""

from __future__ import annotations

import bisect
import csv
import gzip
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from ingest.recorded import CROSS_VENUE_OPEN_INTEREST, RECORDED_DIR
from tests.fake_exchange.store import HOUR_MS
from tests.fake_exchange.view import MarketView

#: The venue whose recorded hourly open interest every venue of the fake re-serves.
SOURCE_VENUE = "hyperliquid"


class OiRow(NamedTuple):
    """One served open-interest row: ``time_ms`` (UTC), ``value`` (USD, recorded string), ``amount`` (base units,
    derived string) and ``close`` (the price it was divided by, recorded string)."""

    time_ms: int
    value: str
    amount: str
    close: str


@cache
def recorded() -> dict[str, tuple[tuple[int, str], ...]]:
    """Hyperliquid's recorded ``(time_ms, oi_usd)`` by coin, oldest first (read once; immutable)."""
    rows: dict[str, list[tuple[int, str]]] = {}
    with gzip.open(RECORDED_DIR / CROSS_VENUE_OPEN_INTEREST, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["venue"] == SOURCE_VENUE:
                ms = int(datetime.fromisoformat(row["timestamp"]).timestamp() * 1000)
                rows.setdefault(row["coin"], []).append((ms, row["oi_usd"]))
    return {coin: tuple(sorted(r)) for coin, r in rows.items()}


def _row(view: MarketView, price_venue: str, base: str, ms: int, value: str) -> OiRow | None:
    candles = view.candles(price_venue, base, "1h")
    i = bisect.bisect_left(candles.times, ms - HOUR_MS)
    if i == len(candles.times) or candles.times[i] != ms - HOUR_MS:
        return None
    close = candles.rows[i][3]
    return OiRow(ms, value, f"{Decimal(value) / Decimal(close):.8f}", close)


def served_rows(view: MarketView, price_venue: str, base: str) -> list[OiRow]:
    """Every row of ``base`` served up to now, oldest first (those with a ``price_venue`` 1 h close at their time)."""
    out = []
    for ms, value in recorded().get(base, ()):
        if ms > view.now_ms():
            break
        row = _row(view, price_venue, base, ms, value)
        if row is not None:
            out.append(row)
    return out


def current(view: MarketView, price_venue: str, base: str) -> OiRow | None:
    """The newest row of ``base`` served at or before now, or ``None`` (before the recording, or no price then)."""
    series = recorded().get(base, ())
    for k in range(bisect.bisect_right(series, (view.now_ms(), "\uffff")) - 1, -1, -1):
        row = _row(view, price_venue, base, *series[k])
        if row is not None:
            return row
    return None
