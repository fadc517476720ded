"""Open interest through ccxt: the paged, resumable history backfill (the live poll of the whole funding universe is
:mod:`ingest.open_interest_stream`).

Rows go to a ``sink(kind, frame, exchange, stream)`` (:data:`ingest.backfill.Sink`) as kind ``open_interest``:
the worker's buffer (written by :func:`ingest.pipeline.ingest_open_interest`) or the pipeline directly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from ingest.backfill import Sink
from ingest.exchange import ExchangeClient
from ingest.normalize import open_interest
from ingest.rows import OpenInterestRow, rows_to_frame

log = logging.getLogger(__name__)

#: Bar width of the history backfill (ccxt timeframe; Binance keeps 5m … 1d for the last 30 days; 4h: 180 rows).
HISTORY_TIMEFRAME = "4h"
HISTORY_TIMEFRAME_MS = 4 * 3_600_000
#: Rows per history request (Binance ``openInterestHist`` and OKX allow 500, Bybit 200).
HISTORY_PAGE_LIMITS = {"binanceusdm": 500, "bybit": 200, "okx": 100}
DEFAULT_HISTORY_PAGE_LIMIT = 100
#: How far back a history backfill reaches (Binance serves only the last 30 days).
HISTORY_DAYS = 30


def contract_size(client: ExchangeClient, symbol: str) -> float | None:
    """``contractSize`` of ``symbol``'s loaded ccxt market (base units per contract), ``None`` when unknown."""
    market = (client.client.markets or {}).get(symbol) or {}
    size = market.get("contractSize")
    return float(size) if size else None


def newest_history(engine: Engine, exchange: str, symbol: str) -> datetime | None:
    """UTC time of the newest stored ``history`` open-interest row of the pair (``None``: none stored)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT max(time) FROM open_interest WHERE exchange = :e AND symbol = :s "
                                 "AND source = 'history'"), {"e": exchange, "s": symbol}).scalar()


async def backfill_open_interest(client: ExchangeClient, engine: Engine, symbol: str, until: datetime,
                                 sink: Sink, *, page_limit: int | None = None) -> int:
    """Page ``fetch_open_interest_history`` (:data:`HISTORY_TIMEFRAME` bars) from the newest stored ``history``
    row + 1 ms (resumable), else :data:`HISTORY_DAYS` before ``until``, up to ``until`` (UTC); rows go to ``sink``
    with ``source='history'``. ccxt asks Binance for ``limit`` bars from ``since``: a page with nothing newer (no
    history kept there) moves on by that window, so a venue's shorter history does not end the backfill. Returns
    rows sent; raises the domain errors of :mod:`ingest.exchange` (``Unsupported`` where ccxt has no history)."""
    limit = page_limit or HISTORY_PAGE_LIMITS.get(client.id, DEFAULT_HISTORY_PAGE_LIMIT)
    newest = newest_history(engine, client.id, symbol)
    start = newest + timedelta(milliseconds=1) if newest else until - timedelta(days=HISTORY_DAYS)
    since, end, sent, size = _ms(start), _ms(until), 0, contract_size(client, symbol)
    received = datetime.now(UTC)
    while since < end:
        page = await client.fetch_open_interest_history(symbol, HISTORY_TIMEFRAME, since, limit)
        rows = [open_interest(client.id, {"symbol": symbol, **e}, contract_size=size, source="history",
                              received_at=received) for e in page
                if e.get("timestamp") is not None and since <= e["timestamp"] < end]
        if not rows:
            since += limit * HISTORY_TIMEFRAME_MS
            continue
        await sink("open_interest", rows_to_frame(rows, OpenInterestRow), client.id, "open_interest_history")
        sent += len(rows)
        since = max(_ms(r.time) for r in rows) + 1
        log.info("backfill %s %s open interest: %d rows up to %s", client.id, symbol, sent,
                 datetime.fromtimestamp((since - 1) / 1000, UTC).isoformat())
    return sent


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)
