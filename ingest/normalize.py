"""ccxt structures → typed rows (one function per structure; the raw exchange payload quoted in each).

Times become timezone-aware UTC ``datetime``; funding rates stay fractions per the symbol's own funding
interval; a missing exchange field becomes ``None``/NaN and is judged by :mod:`ingest.validate`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ingest.rows import CandleRow, FundingRow, OpenInterestRow


def ms_to_datetime(ms: int | float | None) -> datetime | None:
    """UTC ``datetime`` from epoch milliseconds (``None`` stays ``None``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def interval_hours(value: str | float | int | None) -> float | None:
    """Funding interval in hours from ccxt's ``interval`` (``"8h"``, ``"4h"``, ``"1h"``) or a number of hours;
    ``None`` when absent or unreadable (never a guessed 8 h)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    text = str(value).strip().lower()
    try:
        if text.endswith("h"):
            return float(text[:-1])
        if text.endswith("m"):
            return float(text[:-1]) / 60
        return float(text)
    except ValueError:
        return None


def _num(value) -> float:
    return math.nan if value is None else float(value)


def predicted_funding(exchange: str, structure: dict, *, received_at: datetime,
                      interval: float | None) -> FundingRow:
    """A ``settled=False`` row from a ccxt funding-rate structure (``fetch_funding_rate(s)``).

    Binance ``GET /fapi/v1/premiumIndex`` → ccxt::

        {"symbol": "BTCUSDT", "markPrice": "106599.90000000", "indexPrice": "106647.69847826",
         "lastFundingRate": "0.00004758", "nextFundingTime": 1750176000000, "time": 1750149488000, …}
        → {"symbol": "BTC/USDT:USDT", "fundingRate": 4.758e-05, "markPrice": 106599.9,
           "indexPrice": 106647.69847826, "timestamp": 1750149488000, "fundingTimestamp": 1750176000000}

    ``time`` = the exchange's observation time (``timestamp``; OKX and Hyperliquid send none → ``received_at``);
    ``next_funding_time`` = ``fundingTimestamp`` (when this predicted rate settles; ``None`` for Binance's 0, sent
    for a symbol that is settling or delisted, never the epoch); ``funding_interval_hours``
    = the live ``fundingIntervalHour`` of the raw answer where the exchange sends one (Bybit tickers: ccxt's own
    ``interval`` comes from the markets loaded at start and would miss a change), else the structure's
    ``interval`` (OKX: ``nextFundingTime`` − ``fundingTime``; Hyperliquid: ccxt's ``1h``), else ``interval`` (the
    symbol's known interval, may be ``None``). Hyperliquid ``POST /info {"type": "metaAndAssetCtxs"}`` → ccxt:
    ``markPx`` → ``markPrice``, ``oraclePx`` → ``indexPrice``, ``funding`` (hourly) → ``fundingRate``.
    """
    stamp = structure.get("timestamp")
    info = structure.get("info")
    live = interval_hours(info.get("fundingIntervalHour")) if isinstance(info, dict) else None
    return FundingRow(
        time=ms_to_datetime(stamp) if stamp is not None else received_at,
        exchange=exchange,
        symbol=structure["symbol"],
        settled=False,
        funding_rate=_num(structure.get("fundingRate")),
        funding_interval_hours=live or interval_hours(structure.get("interval")) or interval,
        mark_price=structure.get("markPrice"),
        index_price=structure.get("indexPrice"),
        next_funding_time=ms_to_datetime(structure.get("fundingTimestamp") or None),
    )


def settled_funding(exchange: str, entry: dict, *, interval: float | None) -> FundingRow:
    """A ``settled=True`` row from a ccxt funding-rate-history entry (``fetch_funding_rate_history``).

    Binance ``GET /fapi/v1/fundingRate`` → ccxt::

        {"symbol": "BTCUSDT", "fundingTime": 1750147200006, "fundingRate": "0.00005776", "markPrice": ""}
        → {"symbol": "BTC/USDT:USDT", "fundingRate": 5.776e-05, "timestamp": 1750147200006}

    ``time`` = settlement time as the exchange reports it (Binance keeps its few-ms jitter);
    ``mark_price`` from ``info.markPrice`` when the exchange sends one.
    """
    info = entry.get("info") or {}
    mark = info.get("markPrice") if isinstance(info, dict) else None
    return FundingRow(
        time=ms_to_datetime(entry.get("timestamp")),
        exchange=exchange,
        symbol=entry["symbol"],
        settled=True,
        funding_rate=_num(entry.get("fundingRate")),
        funding_interval_hours=interval,
        mark_price=float(mark) if mark not in (None, "") else None,
    )


def closed_candles(exchange: str, symbol: str, ohlcv: list[list], *, exchange_now_ms: int | None,
                   timeframe_ms: int = 60_000) -> list[CandleRow]:
    """Candle rows from ccxt OHLCV arrays, keeping only the candles **the exchange** has closed, and dropping rows
    without an open time.

    A candle is closed when the same answer holds a newer candle (the exchange has started a later one), or when
    its close (open time + width) is at or before ``exchange_now_ms``, the exchange's own time when the answer
    carries it (:meth:`ingest.exchange.ExchangeClient.server_time_ms`; ``None``: unknown). Never the worker's clock:
    with the exchange's clock 5 s behind, candles still open on the exchange were stored as closed. The newest
    candle of an answer without a time is left for the next poll, whose answer holds the one after it.

    Binance ``GET /fapi/v1/klines`` → ccxt::

        [1750149420000, "106560.0", "106597.8", "106547.4", "106592.2", "95.185", 1750149479999, …]
        → [1750149420000, 106560.0, 106597.8, 106547.4, 106592.2, 95.185]

    ``time`` = candle open time (UTC); ``volume`` = base-asset volume; ``quote_volume`` not in ccxt's array.
    """
    newest = max((c[0] for c in ohlcv if c and c[0] is not None), default=None)
    rows = []
    for candle in ohlcv:
        if not candle or candle[0] is None:
            continue
        closed = candle[0] < newest or (exchange_now_ms is not None and candle[0] + timeframe_ms <= exchange_now_ms)
        if not closed:
            continue
        rows.append(CandleRow(time=ms_to_datetime(candle[0]), exchange=exchange, symbol=symbol,
                              open=_num(candle[1]), high=_num(candle[2]), low=_num(candle[3]), close=_num(candle[4]),
                              volume=None if candle[5] is None else float(candle[5])))
    return rows


def _finite_or_none(value) -> float | None:
    """``float(value)`` when it is a finite number, else ``None`` (``""``, ``None``, text, NaN, inf)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def open_interest(exchange: str, structure: dict, *, contract_size: float | None, source: str,
                  received_at: datetime, price: float | None = None) -> OpenInterestRow:
    """An open-interest row from a ccxt open-interest structure (``fetch_open_interest(s)``, or one entry of
    ``fetch_open_interest_history``).

    Binance ``GET /fapi/v1/openInterest`` → ccxt::

        {"symbol": "BTCUSDT", "openInterest": "80523.153", "time": 1764201600000}
        → {"symbol": "BTC/USDT:USDT", "openInterestAmount": 80523.153, "openInterestValue": None,
           "timestamp": 1764201600000}

    OKX ``GET /api/v5/public/open-interest`` → ccxt: ``openInterestAmount`` = ``oi`` (contracts),
    ``openInterestValue`` = ``oiUsd``.

    ``open_interest_contracts`` = ``openInterestAmount``; ``open_interest_base`` = contracts × ``contract_size``
    (the market's ``contractSize``; ``None`` when unknown); ``open_interest_value`` = ccxt's ``openInterestValue``
    when the exchange sends one, else base × ``price`` (the caller's mark or last price in quote currency, if any).
    ``time`` = the structure's ``timestamp`` (UTC ms; none → ``received_at``). A missing or non-numeric field
    becomes ``None``/NaN here and is rejected by :func:`ingest.validate.validate_open_interest`."""
    stamp = structure.get("timestamp")
    contracts = _finite_or_none(structure.get("openInterestAmount"))
    base = contracts * contract_size if contracts is not None and contract_size else None
    value = _finite_or_none(structure.get("openInterestValue"))
    if value is None and base is not None and price:
        value = base * price
    return OpenInterestRow(
        time=ms_to_datetime(stamp) if stamp is not None else received_at,
        exchange=exchange,
        symbol=structure.get("symbol") or "",
        source=source,
        open_interest_contracts=contracts,
        open_interest_base=base,
        open_interest_value=value,
    )
