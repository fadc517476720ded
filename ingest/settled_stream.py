"""Settled funding of the whole funding universe: each pair's settled rate, fetched once its settlement is due.

The configured symbols keep their own stream (catch-up backfill over ``backfill_days`` and the ``funding_history``
cycle of :mod:`ingest.symbol_streams`); this stream covers the other symbols of the venue's funding universe
(``ALPHAPULSE_FUNDING_UNIVERSE=all``), so settled history exists for every pair the funding stream follows.

**When.** The funding stream keeps each symbol's next funding time as the exchange states it (``next_funding``,
UTC). A settlement ``T`` of a pair is *due* once the worker's clock has passed ``T`` while the newest stored settlement
is older than ``T`` − :data:`STAMP_TOLERANCE` (Binance stamps a settlement a few ms after the hour). The earliest
unfetched ``T`` per pair is remembered (``pending``), so a settlement is not lost when the funding stream already
reports the next one; a ``T`` still unpublished one funding interval after it is given up (the next settlement's
fetch starts at the newest stored one and picks it up). A stated time more than ``backfill_days`` before the clock
(Binance sends ``nextFundingTime`` 0 for a symbol in settlement) or more than one interval after it (ccxt computes
Hyperliquid's from the machine's clock, not the exchange's) is not believed: the next point of the symbol's interval
grid (UTC, from midnight: Hyperliquid every hour) is used instead.

**Fetch** from the newest stored settlement + 1 ms, else from ``T`` − tolerance, never more than ``backfill_days``
back:

* Binance (:data:`ingest.exchange.ALL_SYMBOL_HISTORY`): one all-symbol ``fetch_funding_rate_history(None, since)``
  (``GET /fapi/v1/fundingRate`` without ``symbol``, weight 1) from the earliest start over the due pairs, paged by
  time (:data:`ALL_SYMBOL_PAGE` rows ≈ 1.9 settlements of ~530 symbols); rows of the due pairs are kept.
* Bybit, OKX, Hyperliquid (ccxt needs a symbol there): one ``fetch_funding_rate_history(symbol, since)`` per due
  pair, one after the other through ccxt's rate limiter: per settlement one request per pair (Bybit ~500 pairs at
  20 ms ≈ 10 s; OKX ~250 at 2 × 110 ms ≈ 55 s; Hyperliquid, hourly, ~200 pairs weighing 10 × 50 ms ≈ 100 s an hour).

Rows: :func:`ingest.normalize.settled_funding` (fraction per the pair's interval, the interval the funding stream
keeps), kind ``funding``; writes are idempotent (one row per exchange, symbol, time, settled).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ingest.backfill import Gap, Sink, fill_funding
from ingest.exchange import ALL_SYMBOL_HISTORY, ExchangeClient, Unsupported
from ingest.normalize import settled_funding
from ingest.rows import FundingRow, rows_to_frame

log = logging.getLogger(__name__)

#: A stored settlement this close before a due time counts as that settlement.
STAMP_TOLERANCE = timedelta(minutes=1)
#: Rows per all-symbol history request (Binance ``fundingRate``: at most 1,000).
ALL_SYMBOL_PAGE = 1000


class SettledStream:
    """Due settlements of a venue's universe symbols. ``intervals`` (symbol → hours) and ``next_funding`` (symbol →
    next funding time, aware UTC) are the funding stream's dicts for this exchange; ``newest`` the worker's newest
    stored time per ``(exchange, stream, symbol)`` (updated by ``sink``); ``now()`` its clock (aware UTC)."""

    def __init__(self, client: ExchangeClient, *, intervals: dict[str, float], next_funding: dict[str, datetime],
                 newest: dict[tuple[str, str, str], datetime], sink: Sink, now: Callable[[], datetime],
                 backfill_days: int) -> None:
        self.client = client
        self.intervals = intervals
        self.next_funding = next_funding
        self.newest = newest
        self.sink = sink
        self.now = now
        self.floor = timedelta(days=backfill_days)
        self.pending: dict[str, datetime] = {}

    async def cycle(self, client: ExchangeClient, symbols: list[str]) -> bool:
        """Fetch the due settlements of ``symbols`` (the worker's stream signature; a symbol the exchange refuses
        leaves the list, logged once). Returns True; raises the exchange's domain errors and
        :class:`ingest.backfill.SpanError`."""
        now = self.now()
        due = self.due(symbols, now)
        if due and client.id in ALL_SYMBOL_HISTORY:
            await self._all_symbols(due, now)
            return True
        for symbol, start in due.items():
            try:
                await fill_funding(client, symbol, Gap(start, now), self.sink, self.intervals.get(symbol))
            except Unsupported as e:
                log.warning("%s settled funding %s: left out: %s", client.id, symbol, e.error_class)
                symbols.remove(symbol)
                self.pending.pop(symbol, None)
        return True

    def due(self, symbols: list[str], now: datetime) -> dict[str, datetime]:
        """``{symbol: fetch start (UTC)}`` of the pairs of ``symbols`` whose pending settlement time has passed."""
        out = {}
        for symbol in symbols:
            pending = self.pending.get(symbol)
            wait = timedelta(hours=self.intervals.get(symbol) or 1)
            if pending is None or self._stored(symbol, pending) or now >= pending + wait:
                pending = self._next_time(symbol, now)
                if pending is None or self._stored(symbol, pending):
                    self.pending.pop(symbol, None)
                    continue
                self.pending[symbol] = pending
            if now >= pending:
                newest = self._newest(symbol)
                start = newest + timedelta(milliseconds=1) if newest else pending - STAMP_TOLERANCE
                out[symbol] = max(start, now - self.floor)
        return out

    def _next_time(self, symbol: str, now: datetime) -> datetime | None:
        """The symbol's next funding time: the stated one when within ``backfill_days`` before ``now`` and one
        interval after it, else the next point of its interval grid (UTC, from midnight), ``None`` without either."""
        stated = self.next_funding.get(symbol)
        hours = self.intervals.get(symbol)
        step = timedelta(hours=hours or 8)
        if stated is not None and now - self.floor <= stated <= now + step + STAMP_TOLERANCE:
            return stated
        if not hours:
            return None
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + step * ((now - midnight) // step + 1)

    def _newest(self, symbol: str) -> datetime | None:
        return self.newest.get((self.client.id, "funding_history", symbol))

    def _stored(self, symbol: str, due: datetime) -> bool:
        newest = self._newest(symbol)
        return newest is not None and newest >= due - STAMP_TOLERANCE

    async def _all_symbols(self, due: dict[str, datetime], now: datetime) -> None:
        """Page the all-symbol history from the earliest due start to ``now``; keep rows of due pairs after their
        start. The next page starts at the newest time of a full page (rows of equal time are not cut off)."""
        since, end = _ms(min(due.values())), _ms(now)
        starts = {s: _ms(t) for s, t in due.items()}
        while since < end:
            page = await self.client.fetch_funding_history(None, since, ALL_SYMBOL_PAGE)
            rows = [settled_funding(self.client.id, e, interval=self.intervals.get(e["symbol"])) for e in page
                    if e.get("timestamp") is not None and starts.get(e.get("symbol"), end) <= e["timestamp"] < end]
            if rows:
                await self.sink("funding", rows_to_frame(rows, FundingRow), self.client.id, "funding_history")
            times = [e["timestamp"] for e in page if e.get("timestamp") is not None]
            if len(page) < ALL_SYMBOL_PAGE or not times:
                return
            since = max(times) if max(times) > since else since + 1


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)
