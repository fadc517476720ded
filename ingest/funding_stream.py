"""The current-funding stream of one exchange: its whole funding universe in one request per cadence.

Each cycle (``settings.funding_poll_seconds``) asks the exchange once for the current (predicted) funding of every
symbol (:meth:`ingest.exchange.ExchangeClient.fetch_funding_rates` with ``None``: Binance ``premiumIndex``, Bybit
``tickers``, OKX ``funding-rate?instId=ANY``, Hyperliquid ``metaAndAssetCtxs``), keeps the symbols of the universe
(:mod:`ingest.universe`) and sends one row per symbol to the worker's sink: funding rate (fraction per the
symbol's own interval), mark and index price (quote currency), next funding time (UTC) and the funding interval.

Intervals: the exchange's word, never assumed. Where the funding answer carries no interval (Binance), the
interval list (``fetch_funding_intervals``, Binance ``fundingInfo``) is read again every cycle, so a changed
interval lands with the next row; where it does (Bybit ``fundingIntervalHour``, OKX's settlement spacing,
Hyperliquid), the newest answer wins. The latest interval per symbol is kept in ``intervals`` (shared with the
settled-funding streams), the newest mark price and next funding time too (open interest's notional, settled
funding's due time). A malformed entry (a rate or price that is not a finite number) becomes a row that
validation rejects and counts (``rows_rejected``); the other symbols of the answer are stored.

Memory: one answer (a few hundred small dicts per venue) at a time, plus the interval, mark price and next funding
time of each symbol.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from ingest.backfill import Sink, known_intervals
from ingest.exchange import ExchangeClient
from ingest.normalize import predicted_funding
from ingest.rows import FundingRow, rows_to_frame


class FundingStream:
    """Current funding of ``universe`` (unified symbols) on ``client``'s exchange.

    ``whole_venue``: ask for every symbol at once (``ALPHAPULSE_FUNDING_UNIVERSE=all``) rather than for
    ``universe`` by name. ``intervals`` (symbol → hours), ``marks`` (symbol → newest mark price, quote currency) and
    ``next_funding`` (symbol → next funding time, aware UTC: when settled funding is due, :mod:`ingest.settled_stream`)
    are the worker's dicts for this exchange, updated in place; ``sink`` the worker's buffer; ``now()`` its clock
    (aware UTC)."""

    def __init__(self, client: ExchangeClient, universe: list[str], *, whole_venue: bool,
                 intervals: dict[str, float], marks: dict[str, float], next_funding: dict[str, datetime],
                 sink: Sink, now: Callable[[], datetime]) -> None:
        self.client = client
        self.universe = universe
        self.members = frozenset(universe)
        self.whole_venue = whole_venue
        self.intervals = intervals
        self.marks = marks
        self.next_funding = next_funding
        self.sink = sink
        self.now = now

    async def load_intervals(self) -> None:
        """The interval of every symbol as the exchange states it (:func:`ingest.backfill.known_intervals`).
        Raises the exchange's domain errors."""
        self.intervals.update(await known_intervals(self.client, self.universe))

    async def cycle(self, client: ExchangeClient, _symbols: list[str]) -> bool:
        """One poll (the worker's stream signature; the symbols are the universe given at construction): re-read
        the interval list where the funding answer has none, fetch, normalize, send to the sink. Returns True;
        raises the exchange's domain errors."""
        if client.has("fetchFundingIntervals"):
            await self.load_intervals()
        received = self.now()
        structures = await client.fetch_funding_rates(None if self.whole_venue else self.universe)
        rows = [predicted_funding(client.id, v, received_at=received, interval=self.intervals.get(s))
                for s, v in structures.items() if s in self.members]
        for row in rows:  # an interval can change: the exchange's latest word wins
            if row.funding_interval_hours:
                self.intervals[row.symbol] = row.funding_interval_hours
        self.marks.update({r.symbol: r.mark_price for r in rows if r.mark_price and math.isfinite(r.mark_price)})
        self.next_funding.update({r.symbol: r.next_funding_time for r in rows if r.next_funding_time is not None})
        await self.sink("funding", rows_to_frame(rows, FundingRow), client.id, "funding")
        return True
