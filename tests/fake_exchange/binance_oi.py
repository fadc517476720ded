"""Binance USD-M open interest answers (``/fapi/v1/openInterest``, ``/futures/data/openInterestHist``): **derived
from another venue's recording** — no licensed Binance open-interest history exists.

Rows come from :mod:`tests.fake_exchange.oi_source`: **Hyperliquid's** recorded hourly USD open interest of the coin,
served as the Binance symbol ``<COIN>USDT`` at the same time, ``sumOpenInterestValue`` = the recorded ``oi_usd``
(verbatim; USD read as USDT), ``sumOpenInterest`` = that value / the close of the fake's recorded Binance 1 h candle
that closed then (8 decimals; base units = contracts on USD-M). Hours without such a candle (the fake keeps Binance 1 h
candles for 2025-06-10 → 06-19 and 2026-02-01 → 03-05 only) are **not served**, so every served row has both.

So the served numbers are real Hyperliquid positioning in Binance's shape, never Binance's own open interest.

* ``openInterestHist`` (``symbol``, ``period`` required): ``1h`` every such row; ``2h``, ``4h``, ``6h``, ``12h``,
  ``1d`` the rows stamped on multiples of the period (the hourly value at that instant, not an aggregate); shorter
  periods answer ``[]``. Rows ``{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}``; ``limit`` default 30,
  max 500; from ``startTime`` oldest first, else the newest ``limit`` up to ``endTime``/now.
* ``openInterest`` (``symbol`` required): ``{symbol, openInterest, time}`` of the newest served hourly row at or
  before now (``openInterest`` = its ``sumOpenInterest``; ``"NaN"`` for a symbol spoiled by
  ``MarketView.spoil_open_interest``); before the first row: HTTP 400.
* A symbol the fake does not serve: HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}``.
"""

from __future__ import annotations

from tests.fake_exchange import oi_source
from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.store import HOUR_MS
from tests.fake_exchange.view import MarketView

#: Periods of ``openInterestHist`` served, in ms (Binance's names).
PERIOD_MS = {"1h": HOUR_MS, "2h": 2 * HOUR_MS, "4h": 4 * HOUR_MS, "6h": 6 * HOUR_MS, "12h": 12 * HOUR_MS,
             "1d": 24 * HOUR_MS}


def _error(msg: str, code: int = -1102) -> ApiError:
    return ApiError(400, {"code": code, "msg": msg})


def _served_rows(view: MarketView, base: str) -> list[dict]:
    """The hourly rows of ``base`` served up to now (:func:`oi_source.served_rows` priced by Binance's 1 h close)."""
    return [{"symbol": f"{base}USDT", "sumOpenInterest": r.amount, "sumOpenInterestValue": r.value,
             "timestamp": r.time_ms} for r in oi_source.served_rows(view, "binance", base)]


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
    base = _base(view, query)
    row = oi_source.current(view, "binance", base)
    if row is None:
        raise _error("No open interest before now.", -1121)
    amount = "NaN" if view.spoiled_open_interest("binance", base) else row.amount
    return {"symbol": f"{base}USDT", "openInterest": amount, "time": row.time_ms}


ROUTES = {"/fapi/v1/openInterest": open_interest, "/futures/data/openInterestHist": open_interest_hist}
