"""Bybit v5 public REST (``/v5/market/...``) answers in Bybit's own JSON envelope, from recorded data.

Envelope ``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": now}``; errors are HTTP
200 with ``retCode`` 10001 (ccxt: BadSymbol for "Not supported symbols", else BadRequest). Venue ``bybit`` of
the store: BTC, ETH, SOL, DOGE, HYPE USDT linear perpetuals (cross-venue recordings; 8 h funding for all five).

* ``instruments-info``: ``category=linear`` lists the served symbols with ``fundingInterval`` (minutes,
  derived from the recorded settlement spacing); tick/lot/leverage filters are not recorded and left out.
  Other categories and ``status=PreLaunch`` answer an empty list.
* ``tickers`` (``category=linear``, optional ``symbol``): ``fundingRate`` = last settled rate,
  ``nextFundingTime`` = next settlement, ``fundingIntervalHour`` (derived), ``lastPrice`` = ``markPrice`` =
  close of the last closed 1h candle; 24 h figures from the trailing 24 closed 1h candles. ``indexPrice`` is
  not recorded and sent as ``""``. Without ``symbol``: every served symbol; a symbol spoiled by
  ``MarketView.spoil_funding`` has ``"NaN"`` rate and prices. Open interest, **derived** (:mod:`oi_source`:
  Hyperliquid's recorded hourly USD open interest of the coin, never Bybit's): ``openInterestValue`` = the recorded
  USD value of the newest hour at or before now with a recorded Bybit 1 h candle closing then, ``openInterest`` =
  that value / that close (base units); both left out when no such hour exists (before 2026-02-01 01:00, where
  the fake's Bybit 1 h candles of that period start), ``"NaN"`` for a symbol spoiled by
  ``MarketView.spoil_open_interest``.
* ``funding/history``: ``{symbol, fundingRate, fundingRateTimestamp}``, newest first; limit default/max 200;
  the newest ``limit`` settlements in [startTime, endTime] (endTime default now); ``startTime`` without
  ``endTime`` is an error, as on Bybit.
* ``kline``: ``[start, open, high, low, close, volume]`` strings, newest first (``turnover`` not recorded,
  left out); intervals ``60`` (recorded 1h) — any other interval answers an empty list because no other
  timeframe is recorded for Bybit. Limit default 200, max 1000. ``start`` alone: the oldest ``limit`` from
  start; otherwise the newest ``limit`` up to ``end`` (default now). The candle containing now is included.
* ``time``: ``{"timeSecond", "timeNano"}`` from now.
"""

from __future__ import annotations

from typing import Any

from tests.fake_exchange import oi_source
from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.faults import spoil
from tests.fake_exchange.store import HOUR_MS, MINUTE_MS
from tests.fake_exchange.view import MarketView, Window, day_stats

VENUE = "bybit"
PREFIX = "/v5/market"
#: Body of Bybit's rate-limit answer (retCode 10006; ccxt: RateLimitExceeded).
RATE_LIMIT_BODY = {"retCode": 10006, "retMsg": "Too many visits. Exceeded the API Rate Limit.", "result": {}}
#: Bybit kline ``interval`` values -> the store's timeframes.
INTERVALS = {"1": "1m", "60": "1h"}


def _error(msg: str) -> ApiError:
    return ApiError(200, {"retCode": 10001, "retMsg": msg, "result": {}, "retExtInfo": {}})


def _ok(view: MarketView, result: dict) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": view.now_ms()}


def _served(view: MarketView) -> dict[str, str]:
    """``{"BTCUSDT": "BTC", …}`` for the bases with recorded Bybit funding."""
    return {f"{base}USDT": base for venue, base in sorted(view.store.funding) if venue == VENUE}


def _base(view: MarketView, query: Query) -> str:
    if query.get("category") != "linear":
        raise _error("params error: category only supports linear here")
    base = _served(view).get(query.get("symbol", ""))
    if base is None:
        raise _error("Not supported symbols")  # Bybit's text; ccxt maps it to BadSymbol
    return base


def instruments_info(view: MarketView, query: Query) -> dict:
    """``GET /v5/market/instruments-info?category=`` -> served linear perpetuals (one page)."""
    rows: list[dict[str, Any]] = []
    if query.get("category") == "linear" and query.get("status", "Trading") == "Trading":
        for symbol, base in _served(view).items():
            interval = view.funding_interval_ms(VENUE, base)
            rows.append(
                {
                    "symbol": symbol,
                    "contractType": "LinearPerpetual",
                    "status": "Trading",
                    "baseCoin": base,
                    "quoteCoin": "USDT",
                    "settleCoin": "USDT",
                    "fundingInterval": interval // MINUTE_MS if interval else None,
                }
            )
    return _ok(view, {"category": query.get("category", ""), "list": rows, "nextPageCursor": ""})


def _ticker(view: MarketView, symbol: str, base: str) -> dict:
    settled = view.last_settlement(VENUE, base)
    interval = view.funding_interval_ms(VENUE, base)
    price = view.last_price(VENUE, base) or ""
    ticker = {
        "symbol": symbol,
        "lastPrice": price,
        "markPrice": price,
        "indexPrice": "",
        "fundingRate": settled[1] if settled else "",
        "nextFundingTime": str(view.next_settlement(VENUE, base) or ""),
        "fundingIntervalHour": str(interval // HOUR_MS) if interval else "",
    }
    interest = oi_source.current(view, VENUE, base)
    if interest is not None:
        bad = view.spoiled_open_interest(VENUE, base)
        ticker.update(openInterest="NaN" if bad else interest.amount,
                      openInterestValue="NaN" if bad else interest.value)
    day = view.trailing_day(VENUE, base)
    if day:
        stats = day_stats(day)
        ticker.update(
            prevPrice24h=stats["open"], highPrice24h=stats["high"], lowPrice24h=stats["low"], volume24h=stats["volume"]
        )
    return spoil(ticker) if view.spoiled(VENUE, base) else ticker


def tickers(view: MarketView, query: Query) -> dict:
    """``GET /v5/market/tickers?category=linear[&symbol=]`` -> funding, prices, 24 h figures."""
    if "symbol" in query:
        rows = [_ticker(view, query["symbol"], _base(view, query))]
    elif query.get("category") == "linear":
        rows = [_ticker(view, symbol, base) for symbol, base in _served(view).items()]
    else:
        rows = []
    return _ok(view, {"category": query.get("category", ""), "list": rows})


def funding_history(view: MarketView, query: Query) -> dict:
    """``GET /v5/market/funding/history?category=linear&symbol=`` -> settlements, newest first."""
    base = _base(view, query)
    start = int_param(query, "startTime", _error)
    end = int_param(query, "endTime", _error)
    if start is not None and end is None:
        raise _error("params error: endTime is required when startTime is passed")
    limit = clamp_limit(int_param(query, "limit", _error), 200, 200)
    rows = view.select(VENUE, base, "funding", Window(start or 0, end or view.now_ms(), limit, newest_first=True))
    out = [{"symbol": query["symbol"], "fundingRate": r[0], "fundingRateTimestamp": str(t)} for t, r in rows]
    return _ok(view, {"category": "linear", "list": out[::-1]})


def kline(view: MarketView, query: Query) -> dict:
    """``GET /v5/market/kline?category=linear&symbol=&interval=`` -> recorded candles, newest first."""
    base = _base(view, query)
    start = int_param(query, "start", _error)
    end = int_param(query, "end", _error)
    limit = clamp_limit(int_param(query, "limit", _error), 200, 1000)
    timeframe = INTERVALS.get(query.get("interval", ""))
    if timeframe is None:
        rows = []
    else:
        window = Window(start or 0, end or view.now_ms(), limit, newest_first=start is None or end is not None)
        rows = view.served_candles(VENUE, base, timeframe, window)
    out = [[str(t), *r] for t, r in rows]
    return _ok(view, {"category": "linear", "symbol": query["symbol"], "list": out[::-1]})


def server_time(view: MarketView, query: Query) -> dict:
    """``GET /v5/market/time`` -> now in seconds and nanoseconds (strings)."""
    now = view.now_ms()
    return _ok(view, {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})


ROUTES = {
    f"{PREFIX}/instruments-info": instruments_info,
    f"{PREFIX}/tickers": tickers,
    f"{PREFIX}/funding/history": funding_history,
    f"{PREFIX}/kline": kline,
    f"{PREFIX}/time": server_time,
}
