"""The worker's streams of the configured symbols (``ALPHAPULSE_SYMBOLS``): catch-up backfill, 1-minute candles
and settled funding, each symbol paged on its own (:mod:`ingest.backfill`).

:class:`SymbolStreams` is a part of :class:`ingest.worker.Worker` (a mixin: it uses the worker's ``settings``,
``engine``, ``intervals``, ``newest``, ``now()``, ``stopping``, ``_retrying`` and ``_sink``), split off by subject;
the whole-universe funding stream is :mod:`ingest.funding_stream`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ingest.backfill import Gap, backfill_symbol, fill_candles, fill_funding, interval_from_times, stored_times
from ingest.exchange import ExchangeClient, Unsupported
from ingest.sessions import in_thread, short

log = logging.getLogger(__name__)


class SymbolStreams:
    """Catch-up backfill and the ``ohlcv`` / ``funding_history`` cycles over a venue's configured symbols."""

    async def _catch_up(self, client: ExchangeClient, symbols: list[str]) -> None:
        """Gap-aware backfill of the last ``backfill_days`` (skipped, logged, when the database is down)."""
        until = self.now()
        since = until - timedelta(days=self.settings.backfill_days)
        try:
            for key, t in (await in_thread(newest_stored, self.engine, client.id)).items():
                self.newest[key] = max(t, self.newest.get(key, t))
        except SQLAlchemyError as e:
            log.warning("%s: catch-up backfill skipped, database unreachable (%s: %s)", client.id,
                        type(e).__name__, short(str(e)))
            return
        for symbol in symbols:
            if self.stopping:
                return
            try:
                await self._retrying(client.id, "ohlcv", lambda s=symbol: backfill_symbol(
                    client, self.engine, s, since, until, self._sink, intervals=self.intervals[client.id]))
                self._remember_interval(client.id, symbol, since, until)
            except Unsupported as e:
                log.warning("%s %s: catch-up backfill stopped: %s", client.id, symbol, e.error_class)
            except ValueError as e:  # SpanError: the exchange answered outside the request; the live stream retries
                log.error("%s %s: catch-up backfill stopped: %s", client.id, symbol, short(str(e)))
            except SQLAlchemyError as e:
                log.warning("%s: catch-up backfill skipped, database unreachable (%s)", client.id, type(e).__name__)
                return

    def _remember_interval(self, exchange: str, symbol: str, since: datetime, until: datetime) -> None:
        if symbol not in self.intervals[exchange]:
            interval = interval_from_times(stored_times(self.engine, "funding_history", exchange, symbol,
                                                        since, until))
            if interval:
                self.intervals[exchange][symbol] = interval

    async def _per_symbol(self, client: ExchangeClient, stream: str, symbols: list[str], fill) -> bool:
        for symbol in list(symbols):
            try:
                await fill(symbol)
            except Unsupported as e:
                log.error("%s %s %s: stopped for this symbol: %s", client.id, stream, symbol, e.error_class)
                symbols.remove(symbol)
        return True

    async def _ohlcv_cycle(self, client: ExchangeClient, symbols: list[str]) -> bool:
        now = self.now()
        floor = now - timedelta(days=self.settings.backfill_days)

        async def fill(symbol: str) -> None:
            newest = self.newest.get((client.id, "ohlcv", symbol))
            start = newest or floor  # the newest stored candle again: corrected if it was stored before it closed
            await fill_candles(client, symbol, Gap(start, now), self._sink, int(now.timestamp() * 1000))

        return await self._per_symbol(client, "ohlcv", symbols, fill)

    async def _history_cycle(self, client: ExchangeClient, symbols: list[str]) -> bool:
        now = self.now()

        async def fill(symbol: str) -> None:
            interval = self.intervals.get(client.id, {}).get(symbol)
            newest = self.newest.get((client.id, "funding_history", symbol))
            if newest and interval and now < newest + timedelta(hours=interval):
                return  # no settlement due yet
            start = newest + timedelta(milliseconds=1) if newest else now - timedelta(days=self.settings.backfill_days)
            await fill_funding(client, symbol, Gap(start, now), self._sink, interval)

        return await self._per_symbol(client, "funding_history", symbols, fill)


def newest_stored(engine: Engine, exchange: str) -> dict[tuple[str, str, str], datetime]:
    """Newest stored time per (exchange, stream, symbol) for ``exchange`` (1-minute candles: open time)."""
    sql = text("SELECT 'ohlcv', symbol, max(time) FROM prices WHERE exchange = :e AND timeframe = '1m' GROUP BY 2 "
               "UNION ALL SELECT CASE WHEN settled THEN 'funding_history' ELSE 'funding' END, symbol, max(time) "
               "FROM funding_rates WHERE exchange = :e GROUP BY 1, 2")
    with engine.connect() as conn:
        return {(exchange, stream, symbol): t for stream, symbol, t in conn.execute(sql, {"e": exchange})}
