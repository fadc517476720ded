"""Binance USD-M open interest answers (``/fapi/v1/openInterest``, ``/futures/data/openInterestHist``) from the
recorded ``openInterestHist`` rows (``tests/data/fake_exchange/binance_usdm_open_interest_{4h,1d}.csv.gz``: 7
symbols, 4 h rows 2026-02-20 04:00 → 2026-03-20 00:00, daily 2026-02-21 → 2026-03-20; see PROVENANCE.md).

* ``openInterestHist`` (``symbol``, ``period`` required; ``4h`` and ``1d`` recorded, other periods answer
  ``[]``): recorded rows ``{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}``, values verbatim;
  ``limit`` default 30, max 500; from ``startTime`` oldest first, else the newest ``limit`` up to ``endTime``/now.
* ``openInterest`` (``symbol`` required): **derived shape** — no raw answer of this endpoint is recorded, so it
  is ``{symbol, openInterest, time}`` of the newest recorded 4 h row at or before now (``openInterest`` =
  its ``sumOpenInterest`` verbatim, ``time`` = its timestamp); before the first row: HTTP 400.
"""

from __future__ import annotations

import csv
import gzip
from functools import cache

from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.store import DATA_DIR, MarketView

FILES = {"4h": "binance_usdm_open_interest_4h.csv.gz", "1d": "binance_usdm_open_interest_1d.csv.gz"}


def _error(msg: str, code: int = -1102) -> ApiError:
    return ApiError(400, {"code": code, "msg": msg})


@cache
def recorded(period: str) -> dict[str, tuple[dict[str, str], ...]]:
    """Recorded rows of ``period`` by Binance symbol, oldest first (read once; immutable)."""
    rows: dict[str, list[dict[str, str]]] = {}
    with gzip.open(DATA_DIR / FILES[period], "rt", newline="") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["symbol"], []).append(row)
    return {s: tuple(sorted(r, key=lambda x: int(x["timestamp_ms"]))) for s, r in rows.items()}


def _hist_row(row: dict[str, str]) -> dict:
    return {"symbol": row["symbol"], "sumOpenInterest": row["sum_open_interest"],
            "sumOpenInterestValue": row["sum_open_interest_value"], "timestamp": int(row["timestamp_ms"])}


def _symbol_rows(query: Query, period: str) -> tuple[dict[str, str], ...]:
    symbol = query.get("symbol")
    if not symbol:
        raise _error("Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    rows = recorded(period).get(symbol)
    if rows is None:
        raise _error("Invalid symbol.", -1121)
    return rows


def open_interest_hist(view: MarketView, query: Query) -> list[dict]:
    """``GET /futures/data/openInterestHist`` -> recorded rows of ``period`` (see the module docstring)."""
    period = query.get("period")
    if not period:
        raise _error("Mandatory parameter 'period' was not sent, was empty/null, or malformed.")
    if period not in FILES:
        _symbol_rows(query, "4h")
        return []
    rows = _symbol_rows(query, period)
    start = int_param(query, "startTime", _error)
    end = int_param(query, "endTime", _error, default=view.now_ms())
    limit = clamp_limit(int_param(query, "limit", _error), 30, 500)
    inside = [r for r in rows if (start or 0) <= int(r["timestamp_ms"]) <= end]
    chosen = inside[:limit] if start is not None else inside[-limit:]
    return [_hist_row(r) for r in chosen]


def open_interest(view: MarketView, query: Query) -> dict:
    """``GET /fapi/v1/openInterest`` -> the newest recorded 4 h row at or before now (derived shape)."""
    rows = [r for r in _symbol_rows(query, "4h") if int(r["timestamp_ms"]) <= view.now_ms()]
    if not rows:
        raise _error("No open interest recorded before now.", -1121)
    return {"symbol": rows[-1]["symbol"], "openInterest": rows[-1]["sum_open_interest"],
            "time": int(rows[-1]["timestamp_ms"])}


ROUTES = {"/fapi/v1/openInterest": open_interest, "/futures/data/openInterestHist": open_interest_hist}
