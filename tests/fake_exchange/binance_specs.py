"""Binance USD-M contract specifications for the fake ``GET /fapi/v1/exchangeInfo``: **derived, not recorded**.

No licensed recording of ``exchangeInfo`` exists (see ``tests/data/fake_exchange/PROVENANCE.md``), so the answer is
built from the symbols the store serves, with only the fields ccxt's binance ``parse_market`` reads:

* ``symbol``/``pair`` ``<BASE>USDT``, ``contractType`` ``PERPETUAL``, ``status`` ``TRADING``, ``baseAsset`` the base,
  ``quoteAsset`` and ``marginAsset`` ``USDT`` (every served Binance series is USDT-margined linear perpetual data).
* ``pricePrecision`` = the most decimal places (trailing zeros dropped) of the recorded Binance candle prices of the
  symbol (1m klines and 1h candles: open/high/low/close); ``PRICE_FILTER.tickSize`` = 10^-pricePrecision.
* ``quantityPrecision`` = the most decimal places of the recorded candle volumes (base asset);
  ``LOT_SIZE.stepSize`` = ``minQty`` = 10^-quantityPrecision (the smallest quantity on that step).
* Symbols without recorded candles (benchmark universes): ``pricePrecision`` :data:`UNKNOWN_PRICE_DECIMALS`,
  ``quantityPrecision`` :data:`UNKNOWN_QUANTITY_DECIMALS`.
* Not derivable, sent as ``null`` (ccxt: ``None``): ``minPrice``, ``maxPrice``, ``maxQty``, ``MIN_NOTIONAL.notional``.
  ccxt's ``contractSize`` defaults to 1 (base units per USD-M contract, as on Binance).

Decimal places are capped at :data:`MAX_DECIMALS` (the cross-venue candles were stored as floats).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.fake_exchange.store import EMPTY, TIMEFRAME_MS, RecordedStore

MAX_DECIMALS = 8
UNKNOWN_PRICE_DECIMALS = 8
UNKNOWN_QUANTITY_DECIMALS = 0
#: Specs by store (the store kept alive next to them, so its ``id`` is never reused while cached).
_CACHE: dict[int, tuple[RecordedStore, dict[str, dict]]] = {}


def decimals(values: Iterable[str]) -> int | None:
    """Most decimal places among number strings (``"105534.70"`` -> 1; trailing zeros dropped), capped at
    :data:`MAX_DECIMALS`; ``None`` for no values."""
    most = None
    for value in values:
        places = len(value.partition(".")[2].rstrip("0")) if "e" not in value.lower() else MAX_DECIMALS
        most = places if most is None else max(most, places)
    return None if most is None else min(most, MAX_DECIMALS)


def step(places: int) -> str:
    """10^-places as Binance writes it: ``1`` -> ``"0.1"``, ``0`` -> ``"1"``."""
    return f"{10.0 ** -places:.{places}f}" if places else "1"


def symbol_spec(store: RecordedStore, base: str) -> dict:
    """The derived ``exchangeInfo`` symbol object of ``<base>USDT`` (see the module docstring)."""
    rows = [row for tf in TIMEFRAME_MS for row in store.candles.get(("binance", base, tf), EMPTY).rows]
    price = decimals(v for row in rows for v in row[:4])
    quantity = decimals(row[4] for row in rows)
    price = UNKNOWN_PRICE_DECIMALS if price is None else price
    quantity = UNKNOWN_QUANTITY_DECIMALS if quantity is None else quantity
    return {
        "symbol": f"{base}USDT", "pair": f"{base}USDT", "contractType": "PERPETUAL", "status": "TRADING",
        "baseAsset": base, "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": price, "quantityPrecision": quantity,
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": step(price), "minPrice": None, "maxPrice": None},
            {"filterType": "LOT_SIZE", "stepSize": step(quantity), "minQty": step(quantity), "maxQty": None},
            {"filterType": "MIN_NOTIONAL", "notional": None},
        ],
    }


def exchange_info(store: RecordedStore, now_ms: int) -> dict:
    """``GET /fapi/v1/exchangeInfo`` body: one derived symbol object per served base (``store.bases``, computed
    once per store), ``serverTime`` = ``now_ms`` (UTC ms), no rate limits, assets or exchange filters."""
    cached = _CACHE.get(id(store))
    if cached is None or cached[0] is not store:
        cached = _CACHE[id(store)] = (store, {base: symbol_spec(store, base) for base in store.bases})
    symbols = [cached[1][base] for base in store.bases]
    return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": [], "exchangeFilters": [], "assets": [],
            "symbols": symbols}
