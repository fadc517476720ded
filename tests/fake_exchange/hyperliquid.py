"""Hyperliquid's public ``POST /info`` API (JSON body ``{"type": …}``) from recorded data, as ccxt 4.5 calls it.

Venue ``hyperliquid`` of the store: the coins with recorded hourly funding (BTC, ETH, SOL, DOGE, HYPE; the
cross-venue year of ``data/recorded``, 2025-03-08 09:00 → 2026-03-07 08:00 UTC). ccxt's symbols are
``<COIN>/USDC:USDC`` (USDC-settled linear perpetuals); Hyperliquid settles funding every hour and its rates are
hourly fractions.

Request types served (ccxt method → type):

* ``spotMeta`` (``load_markets`` → ``fetch_currencies``): ``{"tokens": [], "universe": []}`` — no spot data is
  recorded and the worker loads perpetuals only.
* ``meta`` and ``metaAndAssetCtxs`` (``load_markets`` → ``fetch_swap_markets``, ``fetch_funding_rates``,
  ``fetch_open_interests``): ``universe`` = ``[{name, szDecimals}]`` per coin. ``szDecimals`` (the size precision
  of the contract: BTC 5, ETH 4, SOL 2, DOGE 0, HYPE 2) is contract metadata as Hyperliquid publishes it in
  ``meta``, not recorded market data (BTC's ``"5"`` also appears in ccxt's recorded static test response);
  ``maxLeverage`` is not recorded and left out. Asset contexts: ``funding`` = the last settled hourly rate at or
  before now (derived: Hyperliquid's field is the current predicted rate). ``openInterest`` and ``markPx``
  (:mod:`oi_source`): Hyperliquid's **own** recorded hourly USD open interest of the newest hour at or before now
  that has a recorded **Binance** 1 h candle closing then (no Hyperliquid candles are recorded in that period),
  ``markPx`` = that Binance close (**another venue's price**, derived), ``openInterest`` = the recorded USD value /
  that close (coins, 8 decimals; so ``openInterest`` × ``markPx`` ≈ the recorded value); both ``""`` before such an
  hour (before 2026-02-01 01:00). ``oraclePx``, ``midPx``, ``premium``, ``dayNtlVlm``, ``prevDayPx`` are not
  recorded and sent as ``""`` (ccxt: ``None``). A coin spoiled by ``MarketView.spoil_funding`` has ``"NaN"``
  funding (its prices are left alone: ccxt's ``load_markets`` reads ``markPx`` from the same answer and fails on
  ``"NaN"``); one spoiled by ``MarketView.spoil_open_interest`` has ``"NaN"`` ``openInterest``.
* ``fundingHistory`` (``fetch_funding_rate_history``; ``coin``, ``startTime`` required, ``endTime`` optional):
  ``[{coin, fundingRate, time}]`` oldest first, at most 500 from ``startTime`` (Hyperliquid's page size);
  ``premium`` is not recorded and left out. An unknown coin answers ``[]``.
* ``candleSnapshot`` (``fetch_ohlcv``; ``req`` = ``{coin, interval, startTime, endTime}``): recorded candles as
  ``{t, T, s, i, o, h, l, c, v, n}``; no Hyperliquid candles are in the fake's data, so the answer is ``[]``.

Anything else answers HTTP 422 with a JSON error, as Hyperliquid answers a body it cannot deserialize.
"""

from __future__ import annotations

from typing import Any

from tests.fake_exchange import oi_source
from tests.fake_exchange.api import ApiError
from tests.fake_exchange.store import TIMEFRAME_MS
from tests.fake_exchange.view import MarketView, Window

VENUE = "hyperliquid"
PATH = "/info"
#: Hyperliquid's published size decimals (``meta`` → ``universe[].szDecimals``) of the served coins.
SZ_DECIMALS = {"BTC": 5, "ETH": 4, "SOL": 2, "DOGE": 0, "HYPE": 2}
#: The venue whose recorded 1 h closes price Hyperliquid's open interest and mark (:mod:`oi_source`).
OI_PRICE_VENUE = "binance"
#: Most rows of one ``fundingHistory`` answer.
FUNDING_PAGE = 500
#: Body of Hyperliquid's HTTP 429 answer.
RATE_LIMIT_BODY = {"error": "rate limited"}


def _error(message: str) -> ApiError:
    return ApiError(422, {"error": message})


def _coins(view: MarketView) -> list[str]:
    """Coins with recorded Hyperliquid funding, sorted (Hyperliquid lists its universe in a fixed order)."""
    return sorted(base for venue, base in view.store.funding if venue == VENUE)


def _meta(view: MarketView) -> dict:
    return {"universe": [{"name": c, "szDecimals": SZ_DECIMALS.get(c, 0)} for c in _coins(view)]}


def _context(view: MarketView, coin: str) -> dict:
    settled = view.last_settlement(VENUE, coin)
    interest = oi_source.current(view, OI_PRICE_VENUE, coin)
    ctx = {"funding": settled[1] if settled else "", "markPx": interest.close if interest else "", "oraclePx": "",
           "midPx": "", "openInterest": interest.amount if interest else "", "premium": "", "dayNtlVlm": "",
           "prevDayPx": ""}
    if view.spoiled(VENUE, coin):  # the rate only: ccxt's load_markets reads markPx from the same answer
        ctx["funding"] = "NaN"
    if view.spoiled_open_interest(VENUE, coin):
        ctx["openInterest"] = "NaN"
    return ctx


def _int(body: dict, name: str, required: bool) -> int | None:
    raw = body.get(name)
    if raw is None:
        if required:
            raise _error(f"Failed to deserialize the JSON body: missing field `{name}`")
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _error(f"Failed to deserialize the JSON body: invalid `{name}`") from None


def _funding_history(view: MarketView, body: dict) -> list[dict]:
    coin = str(body.get("coin", ""))
    start = _int(body, "startTime", required=True)
    end = _int(body, "endTime", required=False)
    window = Window(start, end if end is not None else view.now_ms(), FUNDING_PAGE)
    return [{"coin": coin, "fundingRate": row[0], "time": t} for t, row in view.select(VENUE, coin, "funding", window)]


def _candles(view: MarketView, body: dict) -> list[dict]:
    req = body.get("req")
    if not isinstance(req, dict):
        raise _error("Failed to deserialize the JSON body: missing field `req`")
    coin, interval = str(req.get("coin", "")), str(req.get("interval", ""))
    start, end = _int(req, "startTime", required=True), _int(req, "endTime", required=True)
    if interval not in TIMEFRAME_MS:
        return []
    width = TIMEFRAME_MS[interval]
    rows = view.served_candles(VENUE, coin, interval, Window(start, end, 5000))
    return [{"t": t, "T": t + width - 1, "s": coin, "i": interval, "o": o, "h": h, "l": low, "c": c, "v": v, "n": None}
            for t, (o, h, low, c, v) in rows]


def info(view: MarketView, body: Any) -> Any:
    """``POST /info`` → the answer for ``body["type"]`` (module docstring); raises ``ApiError`` (HTTP 422) for a
    body that is not an object with a known ``type``."""
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "spotMeta":
        return {"tokens": [], "universe": []}
    if kind == "meta":
        return _meta(view)
    if kind == "metaAndAssetCtxs":
        return [_meta(view), [_context(view, c) for c in _coins(view)]]
    if kind == "fundingHistory":
        return _funding_history(view, body)
    if kind == "candleSnapshot":
        return _candles(view, body)
    raise _error("Failed to deserialize the JSON body into the target type")


POST_ROUTES = {PATH: info}
