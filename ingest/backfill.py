"""Gap-aware, resumable backfill of 1-minute candles and settled funding through ccxt.

For one exchange + symbol + stream and a range ``[since, until)``:

1. :func:`find_gaps` reads what is stored and returns the missing spans — before the oldest row, **between
   rows** (holes in the middle) and after the newest — so a rerun resumes where the last one stopped (candles:
   at the newest stored one, fetched again in case it was stored before the exchange closed it);
2. each gap is paged through with ccxt (``since`` = gap start, ``limit`` = :data:`PAGE_LIMITS`), every page's
   span is checked (:func:`check_page`: inside the request, strictly increasing, on the grid) and the next page
   starts after the newest time received; a page that returns nothing ends the gap (the exchange has no data
   there);
3. rows go to a ``sink`` (the pipeline for the CLI, the worker's bounded buffer for the live worker) and a
   progress line is logged per page.

``python -m ingest backfill --exchange binanceusdm --symbols BTC,ETH --since 2025-06-01`` runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, text

from ingest.exchange import TIMEFRAME_MS, ExchangeClient
from ingest.normalize import closed_candles, interval_hours, settled_funding
from ingest.rows import CandleRow, FundingRow, rows_to_frame

log = logging.getLogger(__name__)

#: Rows per request (each exchange's documented maximum for klines / funding history).
PAGE_LIMITS = {
    ("binanceusdm", "ohlcv"): 1500, ("binanceusdm", "funding_history"): 1000,
    ("bybit", "ohlcv"): 1000, ("bybit", "funding_history"): 200,
    ("okx", "ohlcv"): 300, ("okx", "funding_history"): 100,
}
DEFAULT_PAGE_LIMIT = 100
#: Settlements further apart than this many funding intervals leave a gap.
FUNDING_GAP_FACTOR = 1.5
#: Fewest stored settlements needed to infer an interval from their spacing.
MIN_SETTLEMENTS_FOR_INTERVAL = 2

#: Interval (hours) of a symbol the exchange's interval list leaves out, by the exchange's own rule. Binance USD-M
#: "Get Funding Rate Info" (``GET /fapi/v1/fundingInfo``) "only returns symbols whose FundingRateCap/FundingRateFloor/
#: fundingIntervalHours were specially adjusted"; the others keep the standard 8 h of USD-M perpetuals.
UNLISTED_INTERVAL_HOURS = {"binanceusdm": 8.0}

#: ``sink(kind, frame, exchange, stream)`` receives each page (``kind``: ``candles`` or ``funding``).
Sink = Callable[[str, pd.DataFrame, str, str], Awaitable[None]]


class SpanError(ValueError):
    """A page's times are outside the request, not increasing, or off the grid; the message says which."""


@dataclass(frozen=True)
class Gap:
    """A missing span ``[start, end)`` (UTC)."""

    start: datetime
    end: datetime


_CANDLE_TIMES = text("SELECT time FROM prices WHERE exchange = :exchange AND symbol = :symbol AND timeframe = '1m' "
                     "AND price_kind = 'last' AND time >= :since AND time < :until ORDER BY time")
_SETTLED_TIMES = text("SELECT time FROM funding_rates WHERE exchange = :exchange AND symbol = :symbol AND settled "
                      "AND time >= :since AND time < :until ORDER BY time")


def find_gaps(times: list[datetime], since: datetime, until: datetime, step: timedelta,
              tolerance: timedelta = timedelta(0)) -> list[Gap]:
    """Missing spans of a series expected every ``step`` in ``[since, until)`` given its stored ``times``
    (sorted). A spacing over ``step + tolerance`` is a hole; the head gap ends at the first row, the tail gap
    starts one ``step`` after the last."""
    if not times:
        return [Gap(since, until)] if since < until else []
    gaps = []
    if times[0] - since > step + tolerance:
        gaps.append(Gap(since, times[0]))
    gaps.extend(Gap(a + step, b) for a, b in zip(times, times[1:], strict=False) if b - a > step + tolerance)
    if until - times[-1] > step + tolerance:
        gaps.append(Gap(times[-1] + step, until))
    return gaps


def candle_gaps(times: list[datetime], since: datetime, until: datetime) -> list[Gap]:
    """:func:`find_gaps` of stored 1-minute candle ``times``, the last gap starting **at** the newest stored candle:
    it is fetched again, and corrected if it was stored before the exchange closed it (``db.writes`` replaces a
    candle whose values differ)."""
    step = timedelta(milliseconds=TIMEFRAME_MS)
    gaps = find_gaps(times, since, until, step)
    if not times:
        return gaps
    return [g for g in gaps if g.start != times[-1] + step] + [Gap(times[-1], max(until, times[-1] + step))]


def check_page(times_ms: list[int], since_ms: int, grid_ms: int | None) -> None:
    """Raise :class:`SpanError` unless ``times_ms`` are ≥ ``since_ms``, strictly increasing and (when
    ``grid_ms``) multiples of the grid."""
    if not times_ms:
        return
    if times_ms[0] < since_ms:
        raise SpanError(f"page starts at {times_ms[0]} before the requested {since_ms}")
    if any(b <= a for a, b in zip(times_ms, times_ms[1:], strict=False)):
        raise SpanError("page times are not strictly increasing")
    if grid_ms and any(t % grid_ms for t in times_ms):
        raise SpanError(f"page times are off the {grid_ms} ms grid")


def stored_times(engine: Engine, stream: str, exchange: str, symbol: str, since: datetime,
                 until: datetime) -> list[datetime]:
    """Stored times of the ``ohlcv`` (1-minute candles) or ``funding_history`` (settled) series in range."""
    query = _CANDLE_TIMES if stream == "ohlcv" else _SETTLED_TIMES
    with engine.connect() as conn:
        return list(conn.execute(query, {"exchange": exchange, "symbol": symbol, "since": since,
                                         "until": until}).scalars())


def interval_from_times(times: list[datetime]) -> float | None:
    """Funding interval (hours) from the spacing of the last two settlements, ``None`` with fewer."""
    if len(times) < MIN_SETTLEMENTS_FOR_INTERVAL:
        return None
    return round((times[-1] - times[-2]).total_seconds() / 3600) or None


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


async def fill_candles(client: ExchangeClient, symbol: str, gap: Gap, sink: Sink, now_ms: int,
                       page_limit: int | None = None) -> int:
    """Page 1-minute candles through ``gap`` (``page_limit`` rows per request, default :data:`PAGE_LIMITS`), up to
    ``now_ms`` (the worker's clock bounds the range only); returns the candles sent to ``sink``, those the exchange
    has closed (``ingest.normalize.closed_candles``: a newer candle in the answer, or the exchange's own time)."""
    limit = page_limit or PAGE_LIMITS.get((client.id, "ohlcv"), DEFAULT_PAGE_LIMIT)
    since, end, sent = _ms(gap.start), min(_ms(gap.end), now_ms), 0
    while since < end:
        page = await client.fetch_ohlcv(symbol, since, limit)
        check_page([c[0] for c in page if c and c[0] is not None], since, TIMEFRAME_MS)
        closed = closed_candles(client.id, symbol, page, exchange_now_ms=client.server_time_ms())
        rows = [r for r in closed if _ms(r.time) < end]
        if not rows:
            break
        await sink("candles", rows_to_frame(rows, CandleRow), client.id, "ohlcv")
        sent += len(rows)
        since = _ms(rows[-1].time) + TIMEFRAME_MS
        log.info("backfill %s %s ohlcv: %d candles up to %s", client.id, symbol, sent, rows[-1].time.isoformat())
    return sent


async def fill_funding(client: ExchangeClient, symbol: str, gap: Gap, sink: Sink, interval: float | None,
                       page_limit: int | None = None) -> int:
    """Page settled funding through ``gap``; returns the rows sent to ``sink``."""
    limit = page_limit or PAGE_LIMITS.get((client.id, "funding_history"), DEFAULT_PAGE_LIMIT)
    since, end, sent = _ms(gap.start), _ms(gap.end), 0
    while since < end:
        page = await client.fetch_funding_history(symbol, since, limit)
        times = [e["timestamp"] for e in page if e.get("timestamp") is not None]
        check_page(times, since, None)
        rows = [settled_funding(client.id, e, interval=interval) for e in page
                if e.get("timestamp") is not None and e["timestamp"] < end]
        if not rows:
            break
        await sink("funding", rows_to_frame(rows, FundingRow), client.id, "funding_history")
        sent += len(rows)
        since = _ms(rows[-1].time) + 1
        log.info("backfill %s %s funding: %d settlements up to %s", client.id, symbol, sent,
                 rows[-1].time.isoformat())
    return sent


async def backfill_symbol(client: ExchangeClient, engine: Engine, symbol: str, since: datetime, until: datetime,
                          sink: Sink, *, intervals: dict[str, float] | None = None,
                          page_limit: int | None = None) -> dict[str, int]:
    """Fill every gap of both streams of ``symbol`` in ``[since, until)``; returns rows sent per stream.

    ``intervals`` (symbol → hours) gives the funding interval; without one, it is inferred from the stored
    settlements' spacing (the holes between settlements are then detected with it). Raises the exchange's
    domain errors (:mod:`ingest.exchange`) and :class:`SpanError`."""
    now_ms = _ms(until)
    sent = {"ohlcv": 0, "funding_history": 0}
    for gap in candle_gaps(stored_times(engine, "ohlcv", client.id, symbol, since, until), since, until):
        sent["ohlcv"] += await fill_candles(client, symbol, gap, sink, now_ms, page_limit)
    settled = stored_times(engine, "funding_history", client.id, symbol, since - timedelta(days=2), until)
    interval = (intervals or {}).get(symbol) or interval_from_times(settled)
    step = timedelta(hours=interval or 1)
    in_range = [t for t in settled if t >= since]
    for gap in find_gaps(in_range, since, until, step, tolerance=step * (FUNDING_GAP_FACTOR - 1)):
        sent["funding_history"] += await fill_funding(client, symbol, gap, sink, interval, page_limit)
    return sent


async def known_intervals(client: ExchangeClient, symbols: list[str]) -> dict[str, float]:
    """Funding interval (hours) per symbol of ``symbols`` as the exchange states it: ``fetchFundingIntervals``
    where ccxt has it (Binance ``fundingInfo``; a symbol it leaves out takes :data:`UNLISTED_INTERVAL_HOURS`), else
    the ``interval`` of the current funding structures (Bybit, OKX, Hyperliquid). Symbols without a stated
    interval are absent (never assumed 8 h). Raises the exchange's domain errors."""
    if client.has("fetchFundingIntervals"):
        stated = {s: interval_hours(v.get("interval")) for s, v in (await client.fetch_funding_intervals(None)).items()}
        unlisted = UNLISTED_INTERVAL_HOURS.get(client.id)
        intervals = {s: stated.get(s) or unlisted for s in symbols}
    else:
        found = await client.fetch_funding_rates(symbols)
        intervals = {s: interval_hours(v.get("interval")) for s, v in found.items() if s in symbols}
    return {s: h for s, h in intervals.items() if h}


def parse_since(value: str) -> datetime:
    """``YYYY-MM-DD[THH:MM]`` (UTC) or ``<N>d`` (N days ago) → aware UTC datetime; raises ``ValueError``."""
    value = value.strip()
    if value.endswith("d") and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(days=int(value[:-1]))
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
