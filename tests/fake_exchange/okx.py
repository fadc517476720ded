"""OKX v5 public REST (``/api/v5/...``) answers in OKX's own JSON envelope, from recorded data.

Envelope ``{"code": "0", "msg": "", "data": [...]}``; errors are HTTP 200 with ``code`` 51001 "Instrument ID
does not exist" (ccxt: BadSymbol) or 51000 "Parameter … error" (ccxt: BadRequest). Venue ``okx`` of the store:
BTC, ETH, SOL, DOGE, HYPE ``-USDT-SWAP`` (cross-venue recordings from 2025-12; HYPE 4 h funding, rest 8 h).

* ``public/instruments``: ``instType=SWAP`` lists the served swaps (``instId``, ``uly``, ``instFamily``,
  ``settleCcy``, ``ctType``, ``state``); contract value/tick/lot sizes are not recorded and left out, so ccxt
  reports ``contractSize`` None. Other instrument types answer an empty list.
* ``public/funding-rate`` (``instId`` or ``ANY``): ``fundingRate`` = ``settFundingRate`` = last settled rate,
  ``fundingTime`` = next settlement, ``nextFundingTime`` = the one after (ccxt derives the interval from
  the difference), ``nextFundingRate`` ``""``, ``ts`` = now. ``ANY`` (what ccxt's ``fetch_funding_rates`` sends):
  every served swap; a symbol spoiled by ``MarketView.spoil_funding`` has a ``"NaN"`` rate.
* ``public/funding-rate-history``: newest first, limit default/max 400, ``before``/``after`` exclusive bounds
  on ``fundingTime`` (the newest ``limit`` inside them). The recording has one rate per settlement; it is
  served as both ``fundingRate`` and ``realizedRate`` (ccxt reads ``realizedRate``).
* ``market/candles`` and ``market/history-candles``: ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``,
  newest first, ``vol`` = recorded volume (contracts), ``volCcy``/``volCcyQuote`` not recorded (``""``, so ccxt,
  which reads ``volCcy`` for swaps, reports volume None), ``confirm`` ``"0"`` for the candle containing now.
  ``bar=1H`` only (recorded 1h); other bars answer an empty list. Limit default 100, max 300 (both routes,
  as OKX documents today; ccxt asks history-candles for 300); ``before``/
  ``after`` exclusive bounds, the newest ``limit`` inside them.
* ``market/ticker(s)``, ``public/mark-price``: ``last`` = ``markPx`` = close of the last closed 1h candle;
  24 h figures from the trailing 24 closed 1h candles (``vol24h`` in contracts).
* ``public/open-interest`` (``instType=SWAP`` required, ``instId`` optional: without it every served swap, as
  ccxt's ``fetch_open_interests`` asks): **derived** (:mod:`oi_source`: Hyperliquid's recorded hourly USD open
  interest of the coin, never OKX's): ``oiUsd`` = the recorded USD value of the newest hour at or before now with a
  recorded OKX 1 h candle closing then, ``oiCcy`` = that value / that close (base units), ``ts`` = that hour;
  ``oi`` (contracts) is sent as ``""``: OKX's contract value (``ctVal``) is not recorded, so contracts cannot be
  derived (ccxt: ``openInterestAmount`` None). Swaps without such an hour are left out; a symbol spoiled by
  ``MarketView.spoil_open_interest`` has ``"NaN"`` values.
* ``public/time``: ``{"ts": now}``.
"""

from __future__ import annotations

from tests.fake_exchange import oi_source
from tests.fake_exchange.api import ApiError, Query, clamp_limit, int_param
from tests.fake_exchange.faults import spoil
from tests.fake_exchange.store import TIMEFRAME_MS
from tests.fake_exchange.view import MarketView, Window, day_stats

VENUE = "okx"
PREFIX = "/api/v5"
#: Body of OKX's HTTP 429 answer (code 50011; ccxt: RateLimitExceeded).
RATE_LIMIT_BODY = {"code": "50011", "msg": "Too Many Requests", "data": []}
#: OKX ``bar`` values -> the store's timeframes.
BARS = {"1m": "1m", "1H": "1h"}


def _error(msg: str, code: str = "51000") -> ApiError:
    return ApiError(200, {"code": code, "msg": msg, "data": []})


def _ok(data: list) -> dict:
    return {"code": "0", "msg": "", "data": data}


def _served(view: MarketView) -> dict[str, str]:
    """``{"BTC-USDT-SWAP": "BTC", …}`` for the bases with recorded OKX funding."""
    return {f"{base}-USDT-SWAP": base for venue, base in sorted(view.store.funding) if venue == VENUE}


def _selected(view: MarketView, query: Query, any_allowed: bool = False) -> dict[str, str]:
    """The instruments a request names: ``instId`` (or all of them for ``ANY``/absent when allowed)."""
    inst_id = query.get("instId", "ANY" if any_allowed else "")
    if any_allowed and inst_id == "ANY":
        return _served(view)
    base = _served(view).get(inst_id)
    if base is None:
        raise _error("Instrument ID does not exist", "51001")
    return {inst_id: base}


def _bounds(view: MarketView, query: Query, default: int, maximum: int) -> Window:
    """OKX paging: exclusive ``before`` (newer than) / ``after`` (older than), newest ``limit`` inside."""
    before = int_param(query, "before", _error)
    after = int_param(query, "after", _error)
    limit = clamp_limit(int_param(query, "limit", _error), default, maximum)
    start = before + 1 if before is not None else 0
    end = after - 1 if after is not None else view.now_ms()
    return Window(start, end, limit, newest_first=True)


def instruments(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/instruments?instType=`` -> the served USDT swaps for ``SWAP``."""
    if query.get("instType") != "SWAP":
        return _ok([])
    return _ok(
        [
            {
                "instType": "SWAP",
                "instId": inst_id,
                "uly": f"{base}-USDT",
                "instFamily": f"{base}-USDT",
                "settleCcy": "USDT",
                "ctValCcy": base,
                "ctType": "linear",
                "state": "live",
            }
            for inst_id, base in _served(view).items()
        ]
    )


def _funding_rate(view: MarketView, inst_id: str, base: str) -> dict:
    settled = view.last_settlement(VENUE, base)
    upcoming = view.next_settlement(VENUE, base)
    interval = view.funding_interval_ms(VENUE, base)
    rate = settled[1] if settled else ""
    body = {
        "instType": "SWAP",
        "instId": inst_id,
        "fundingRate": rate,
        "settFundingRate": rate,
        "fundingTime": str(upcoming or ""),
        "nextFundingTime": str(upcoming + interval) if upcoming and interval else "",
        "nextFundingRate": "",
        "method": "current_period",
        "ts": str(view.now_ms()),
    }
    return spoil(body) if view.spoiled(VENUE, base) else body


def funding_rate(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/funding-rate?instId=`` (or ``ANY``) -> current funding (derived)."""
    return _ok([_funding_rate(view, i, b) for i, b in _selected(view, query, any_allowed=True).items()])


def funding_rate_history(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/funding-rate-history?instId=`` -> settlements, newest first."""
    ((inst_id, base),) = _selected(view, query).items()
    rows = view.select(VENUE, base, "funding", _bounds(view, query, 400, 400))
    out = [
        {"instType": "SWAP", "instId": inst_id, "fundingRate": r[0], "realizedRate": r[0], "fundingTime": str(t)}
        for t, r in rows
    ]
    return _ok(out[::-1])


def candles(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/market/(history-)candles?instId=&bar=`` -> recorded candles, newest first."""
    ((_, base),) = _selected(view, query).items()
    window = _bounds(view, query, 100, 300)
    timeframe = BARS.get(query.get("bar", "1m"))
    if timeframe is None:
        return _ok([])
    width, now = TIMEFRAME_MS[timeframe], view.now_ms()
    rows = view.served_candles(VENUE, base, timeframe, window)
    return _ok([[str(t), *r[:5], "", "", "0" if t + width > now else "1"] for t, r in reversed(rows)])


def _ticker(view: MarketView, inst_id: str, base: str) -> dict:
    ticker = {"instType": "SWAP", "instId": inst_id, "last": view.last_price(VENUE, base) or ""}
    day = view.trailing_day(VENUE, base)
    if day:
        stats = day_stats(day)
        ticker.update(open24h=stats["open"], high24h=stats["high"], low24h=stats["low"], vol24h=stats["volume"])
    ticker["ts"] = str(view.now_ms())
    return ticker


def ticker(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/market/ticker?instId=`` -> last price and 24 h figures (derived)."""
    return _ok([_ticker(view, i, b) for i, b in _selected(view, query).items()])


def tickers(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/market/tickers?instType=SWAP`` -> ``ticker`` for every served swap."""
    if query.get("instType") != "SWAP":
        return _ok([])
    return _ok([_ticker(view, i, b) for i, b in _served(view).items()])


def mark_price(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/mark-price[?instId=]`` -> ``markPx`` = last close (derived)."""
    chosen = _selected(view, query, any_allowed=True) if "instId" in query else _served(view)
    return _ok(
        [
            {"instType": "SWAP", "instId": i, "markPx": view.last_price(VENUE, b) or "", "ts": str(view.now_ms())}
            for i, b in chosen.items()
        ]
    )


def open_interest(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/open-interest?instType=SWAP[&instId=]`` -> derived open interest (module docstring)."""
    if query.get("instType") != "SWAP":
        raise _error("Parameter instType error")
    out = []
    for inst_id, base in (_selected(view, query) if "instId" in query else _served(view)).items():
        row = oi_source.current(view, VENUE, base)
        if row is not None:
            bad = view.spoiled_open_interest(VENUE, base)
            out.append({"instType": "SWAP", "instId": inst_id, "oi": "", "oiCcy": "NaN" if bad else row.amount,
                        "oiUsd": "NaN" if bad else row.value, "ts": str(row.time_ms)})
    return _ok(out)


def server_time(view: MarketView, query: Query) -> dict:
    """``GET /api/v5/public/time`` -> ``[{"ts": now_ms}]``."""
    return _ok([{"ts": str(view.now_ms())}])


ROUTES = {
    f"{PREFIX}/public/instruments": instruments,
    f"{PREFIX}/public/funding-rate": funding_rate,
    f"{PREFIX}/public/funding-rate-history": funding_rate_history,
    f"{PREFIX}/public/mark-price": mark_price,
    f"{PREFIX}/public/open-interest": open_interest,
    f"{PREFIX}/public/time": server_time,
    f"{PREFIX}/market/candles": candles,
    f"{PREFIX}/market/history-candles": candles,
    f"{PREFIX}/market/ticker": ticker,
    f"{PREFIX}/market/tickers": tickers,
}
