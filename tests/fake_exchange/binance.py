"""Binance USD-M futures REST (``/fapi/v1/...``) answers in Binance's own JSON format, from recorded data and
values derived from it (no licensed raw Binance answer is recorded; see ``tests/data/fake_exchange/PROVENANCE.md``).

What each route serves (venue ``binance`` of the store; symbols ``BTCUSDT`` …):

* ``exchangeInfo``: **derived** contract specifications of the served symbols (``binance_specs``: tick and step
  sizes from the recorded prices' and volumes' decimal places), ``serverTime`` = now.
* ``premiumIndex``: a **derived** object per symbol (no snapshot is served):
  ``markPrice`` = close of the candle that closed last (1m or 1h, ``MarketView.last_price``), ``lastFundingRate`` = the
  last settled rate, ``nextFundingTime`` = next settlement on the symbol's grid, ``time`` = now;
  ``indexPrice``, ``estimatedSettlePrice`` and ``interestRate`` are not recorded and sent as ``""`` (ccxt
  reads ``""`` as ``None``). Without ``symbol``: every served symbol (the whole recorded universe). A symbol
  spoiled by ``MarketView.spoil_funding`` has ``"NaN"`` rate and prices. Symbols beyond the recorded eight
  (benchmarks' ``--symbols N``) have no recorded settlements or candles: their ``markPrice``, ``indexPrice``,
  ``lastFundingRate``, ``estimatedSettlePrice`` and ``interestRate`` are those of the universe file's recorded
  snapshot (``RecordedStore.snapshot``, held as recorded; ``time`` = now), ``nextFundingTime`` the next 00/08/16
  UTC after now (the 8 h default of symbols absent from ``fundingInfo``).
* ``fundingInfo``: ``{symbol, fundingIntervalHours}`` for every served symbol with recorded settlements,
  the interval derived from their spacing (HYPE 4 h, the rest 8 h); cap/floor fields are not recorded.
* ``fundingRate``: recorded settlements ``{symbol, fundingTime, fundingRate}`` (no ``markPrice``: not
  recorded); ``startTime``/``endTime``/``limit`` (default 100, max 1000) as the real API: oldest first from
  ``startTime``, else the newest ``limit`` up to ``endTime``/now; with neither time the newest 200. Without
  ``symbol`` (Binance's all-symbol form): the settlements of every served symbol merged by time (then symbol)
  and paged the same way.
* ``klines``: recorded candles as 12-element arrays; only the 6 OHLCV fields and ``closeTime`` are recorded,
  the rest are ``null``. ``limit`` default 500, max 1500; paging as ``fundingRate``. Intervals other than
  ``1m``/``1h`` (and coins without a recording) answer ``[]``. The candle containing now is included (the
  "open" candle, as it stood at its open: ``MarketView.served_candles``) — clients must drop it.
* ``ticker/price`` and ``ticker/24hr``: derived from the candles closed in the 24 h before now (1m where
  recorded, else 1h): last close, 24 h open/high/low/volume; ``quoteVolume``/``count`` not recorded (``null``).
* ``time``: ``{"serverTime": now}``.

Errors use Binance's shape ``{"code": -1121, "msg": "Invalid symbol."}`` with HTTP 400.
"""

from __future__ import annotations

from tests.fake_exchange import binance_specs
from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.faults import spoil
from tests.fake_exchange.store import TIMEFRAME_MS
from tests.fake_exchange.view import MarketView, Window, day_stats

VENUE = "binance"
#: ``premiumIndex`` fields taken from the universe file's snapshot for the symbols without recorded data.
_SNAPSHOT_FIELDS = ("markPrice", "indexPrice", "estimatedSettlePrice", "lastFundingRate", "interestRate")
_EIGHT_HOURS_MS = 8 * 3_600_000
PREFIX = "/fapi/v1"
#: Body of Binance's HTTP 429 answer (error -1003; ccxt: RateLimitExceeded).
RATE_LIMIT_BODY = {"code": -1003, "msg": "Too many requests; please use the websocket for live updates."}


def _error(msg: str, code: int = -1102) -> ApiError:
    return ApiError(400, {"code": code, "msg": msg})


def _served(view: MarketView) -> dict[str, str]:
    """``{"BTCUSDT": "BTC", …}`` for every served base."""
    return {f"{base}USDT": base for base in view.store.bases}


def _base(view: MarketView, query: Query, required: bool = True) -> str | None:
    symbol = query.get("symbol")
    if symbol is None:
        if required:
            raise _error("Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        return None
    base = _served(view).get(symbol)
    if base is None:
        raise _error("Invalid symbol.", -1121)
    return base


def _window(view: MarketView, query: Query, default: int, maximum: int) -> Window:
    """Binance paging: from ``startTime`` oldest first, else the newest ``limit`` up to ``endTime``/now."""
    start = int_param(query, "startTime", _error)
    end = int_param(query, "endTime", _error, default=view.now_ms())
    limit = clamp_limit(int_param(query, "limit", _error), default, maximum)
    return Window(start if start is not None else 0, end, limit, newest_first=start is None)


def exchange_info(view: MarketView, query: Query) -> dict:
    """``GET /fapi/v1/exchangeInfo`` -> derived specifications of the served perpetuals (``binance_specs``)."""
    return binance_specs.exchange_info(view.store, view.now_ms())


def server_time(view: MarketView, query: Query) -> dict:
    """``GET /fapi/v1/time`` -> ``{"serverTime": now_ms}``."""
    return {"serverTime": view.now_ms()}


def _premium(view: MarketView, symbol: str, base: str) -> dict:
    """The derived ``premiumIndex`` object of ``symbol`` at now (see the module docstring), spoiled on request."""
    snapshot = view.store.snapshot.get(base)
    if snapshot is not None:
        body = {**{k: snapshot.get(k, "") for k in _SNAPSHOT_FIELDS}, "symbol": symbol,
                "nextFundingTime": view.now_ms() // _EIGHT_HOURS_MS * _EIGHT_HOURS_MS + _EIGHT_HOURS_MS,
                "time": view.now_ms()}  # fmt: skip
    else:
        settled = view.last_settlement(VENUE, base)
        body = {
            "symbol": symbol,
            "markPrice": view.last_price(VENUE, base) or "",
            "indexPrice": "",
            "estimatedSettlePrice": "",
            "lastFundingRate": settled[1] if settled else "",
            "interestRate": "",
            "nextFundingTime": view.next_settlement(VENUE, base) or 0,
            "time": view.now_ms(),
        }
    return spoil(body) if view.spoiled(VENUE, base) else body


def premium_index(view: MarketView, query: Query) -> dict | list[dict]:
    """``GET /fapi/v1/premiumIndex[?symbol=]`` -> one object or a list (derived)."""
    base = _base(view, query, required=False)
    if base is not None:
        return _premium(view, query["symbol"], base)
    return [_premium(view, symbol, b) for symbol, b in _served(view).items()]


def funding_info(view: MarketView, query: Query) -> list[dict]:
    """``GET /fapi/v1/fundingInfo`` -> ``[{symbol, fundingIntervalHours}]`` (interval derived)."""
    out = []
    for symbol, base in _served(view).items():
        interval = view.funding_interval_ms(VENUE, base)
        if interval is not None:
            out.append({"symbol": symbol, "fundingIntervalHours": interval // 3_600_000})
    return out


def funding_rate(view: MarketView, query: Query) -> list[dict]:
    """``GET /fapi/v1/fundingRate[?symbol=]`` -> recorded settlements, oldest first; 400 for a bad symbol. Without
    ``symbol``: the settlements of every served symbol, ordered by time then symbol, paged over the merged list."""
    base = _base(view, query, required=False)
    bare = "startTime" not in query and "endTime" not in query  # Binance: then the newest 200 by default
    window = _window(view, query, 200 if bare else 100, 1000)
    chosen = {query["symbol"]: base} if base is not None else _served(view)
    rows = sorted((t, symbol, row[0]) for symbol, b in chosen.items() for t, row in view.select(VENUE, b, "funding",
                                                                                              window))
    rows = rows[-window.limit:] if window.newest_first else rows[: window.limit]
    return [{"symbol": symbol, "fundingTime": t, "fundingRate": rate} for t, symbol, rate in rows]


def klines(view: MarketView, query: Query) -> list[list]:
    """``GET /fapi/v1/klines?symbol=&interval=`` -> recorded candles as 12-element arrays, oldest first."""
    base = _base(view, query)
    interval = query.get("interval")
    if not interval:
        raise _error("Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
    window = _window(view, query, 500, 1500)
    if interval not in TIMEFRAME_MS:
        return []
    width = TIMEFRAME_MS[interval]
    rows = view.served_candles(VENUE, base, interval, window)
    return [[t, *row, t + width - 1, None, None, None, None, None] for t, row in rows]


def ticker_price(view: MarketView, query: Query) -> dict | list[dict]:
    """``GET /fapi/v1/ticker/price[?symbol=]`` -> last close before now (derived)."""

    def one(symbol: str, base: str) -> dict:
        return {"symbol": symbol, "price": view.last_price(VENUE, base) or "", "time": view.now_ms()}

    base = _base(view, query, required=False)
    if base is not None:
        return one(query["symbol"], base)
    return [one(symbol, b) for symbol, b in _served(view).items()]


def _ticker_24hr(view: MarketView, symbol: str, base: str) -> dict:
    day = view.trailing_day(VENUE, base)
    if not day:
        return {"symbol": symbol, "lastPrice": "", "closeTime": view.now_ms()}
    stats = day_stats(day)
    return {
        "symbol": symbol,
        "openPrice": stats["open"],
        "highPrice": stats["high"],
        "lowPrice": stats["low"],
        "lastPrice": stats["close"],
        "volume": stats["volume"],
        "quoteVolume": None,
        "openTime": view.now_ms() - 86_400_000,
        "closeTime": view.now_ms(),
        "count": None,
    }


def ticker_24hr(view: MarketView, query: Query) -> dict | list[dict]:
    """``GET /fapi/v1/ticker/24hr[?symbol=]`` -> 24 h figures derived from recorded candles."""
    base = _base(view, query, required=False)
    if base is not None:
        return _ticker_24hr(view, query["symbol"], base)
    return [_ticker_24hr(view, symbol, b) for symbol, b in _served(view).items()]


ROUTES = {
    f"{PREFIX}/exchangeInfo": exchange_info,
    f"{PREFIX}/time": server_time,
    f"{PREFIX}/premiumIndex": premium_index,
    f"{PREFIX}/fundingInfo": funding_info,
    f"{PREFIX}/fundingRate": funding_rate,
    f"{PREFIX}/klines": klines,
    f"{PREFIX}/ticker/price": ticker_price,
    f"{PREFIX}/ticker/24hr": ticker_24hr,
}
