"""Binance USD-M open interest answers (``/fapi/v1/openInterest``, ``/futures/data/openInterestHist``): **derived
from another venue's recording** — no licensed Binance open-interest history exists.

Source: the bundled ``data/recorded/cross_venue_open_interest_usd_7_venues_2025-12-07_2026-03-07.csv.gz``
(Unlicense; see ``data/recorded/PROVENANCE.md``): **Hyperliquid's** hourly open interest in USD, 2025-12-07 11:00 →
2026-03-07 10:00 UTC, coins BTC ETH SOL DOGE HYPE. The fake re-serves a coin's Hyperliquid row stamped ``t`` as the
Binance symbol ``<COIN>USDT`` at ``t``:

* ``sumOpenInterestValue`` = Hyperliquid's recorded ``oi_usd`` (string verbatim; USD read as USDT);
* ``sumOpenInterest`` = that value / the close of the fake's recorded Binance 1 h candle that closed at ``t`` (open
  ``t`` − 1 h), 8 decimals (base units = contracts on USD-M). Rows without such a candle (the fake keeps Binance 1 h
  candles for 2025-06-10 → 06-19 and 2026-02-01 → 03-05 only) are **not served**, so every served row has both.

So the served numbers are real Hyperliquid positioning in Binance's shape, never Binance's own open interest.

* ``openInterestHist`` (``symbol``, ``period`` required): ``1h`` every such row; ``2h``, ``4h``, ``6h``, ``12h``,
  ``1d`` the rows stamped on multiples of the period (the hourly value at that instant, not an aggregate); shorter
  periods answer ``[]``. Rows ``{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}``; ``limit`` default 30,
  max 500; from ``startTime`` oldest first, else the newest ``limit`` up to ``endTime``/now.
* ``openInterest`` (``symbol`` required): ``{symbol, openInterest, time}`` of the newest served hourly row at or
  before now (``openInterest`` = its ``sumOpenInterest``); before the first row: HTTP 400.
* A symbol the fake does not serve: HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``.
"""

from __future__ import annotations

import bisect
import csv
import gzip
from datetime import datetime
from decimal import Decimal
from functools import cache

from ingest.recorded import CROSS_VENUE_OPEN_INTEREST, RECORDED_DIR
from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.store import HOUR_MS
from tests.fake_exchange.view import MarketView

#: The venue whose recorded hourly open interest is re-served as Binance's.
SOURCE_VENUE = "hyperliquid"
#: Periods of ``openInterestHist`` served, in ms (Binance's names).
PERIOD_MS = {"1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "12h": 12 * HOUR_MS,
             "1d": 24 * HOUR_MS}


def _error(msg: str, code: int = -1102) -> ApiError:
    return ApiError(400, {"code": code, "msg": msg})


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


def _served_rows(view: MarketView, base: str) -> list[dict]:
    """The hourly rows of ``base`` served up to now: those with a recorded Binance 1 h close at their time."""
    candles = view.candles("binance", base, "1h")
    out = []
    for ms, value in recorded().get(base, ()):
        if ms > view.now_ms():
            break
        i = bisect.bisect_left(candles.times, ms - HOUR_MS)
        if i < len(candles.times) and candles.times[i] == ms - HOUR_MS:
            close = Decimal(candles.rows[i][3])
            out.append({"symbol": f"{base}USDT", "sumOpenInterest": f"{Decimal(value) / close:.8f}",
                        "sumOpenInterestValue": value, "timestamp": ms})
    return out


def _base(view: MarketView, query: Query) -> str:
    symbol = query.get("symbol")
    if not symbol:
        raise _error("Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    base = symbol.removesuffix("USDT")
    if not symbol.endswith("USDT") or base not in view.store.bases:
        raise _error("Invalid symbol.", -1121)
    return base


def open_interest_hist(view: MarketView, query: Query) -> list[dict]:
    """``GET /futures/data/openInterestHist`` -> derived rows of ``period`` (see the module docstring)."""
    period = query.get("period")
    if not period:
        raise _error("Mandatory parameter 'period' was not sent, was empty/null, or malformed.")
    base = _base(view, query)
    start = int_param(query, "startTime", _error)
    end = int_param(query, "endTime", _error, default=view.now_ms())
    limit = clamp_limit(int_param(query, "limit", _error), 30, 500)
    if period not in PERIOD_MS:
        return []
    inside = [r for r in _served_rows(view, base)
              if r["timestamp"] % PERIOD_MS[period] == 0 and (start or 0) <= r["timestamp"] <= end]
    return inside[:limit] if start is not None else inside[-limit:]


def open_interest(view: MarketView, query: Query) -> dict:
    """``GET /fapi/v1/openInterest`` -> the newest served hourly row at or before now (derived shape)."""
    rows = _served_rows(view, _base(view, query))
    if not rows:
        raise _error("No open interest before now.", -1121)
    return {"symbol": rows[-1]["symbol"], "openInterest": rows[-1]["sumOpenInterest"], "time": rows[-1]["timestamp"]}


ROUTES = {"/fapi/v1/openInterest": open_interest, "/futures/data/openInterestHist": open_interest_hist}
