"""The live ingest worker: one asyncio task per exchange (its five streams), a writer, metrics, retention.

* Start: load markets; the **funding universe** is every active USDT/USDC linear perpetual of the venue
  (``ALPHAPULSE_FUNDING_UNIVERSE=all``) or the configured symbols; configured symbols resolve per venue
  (:mod:`ingest.universe`; those the exchange does not list are skipped, one log line). Then the funding interval
  of each symbol (``fetchFundingIntervals`` where ccxt has it, else the funding answer's; for configured symbols
  else the spacing of stored settlements), then a **catch-up backfill** of the configured symbols over the last
  ``settings.backfill_days`` (gap-aware, :mod:`ingest.backfill`).
* Streams (cadences from settings): ``funding`` — current/predicted funding of the whole universe with mark/index
  price, next funding time and interval, one request per cadence (``funding_poll_seconds``,
  :mod:`ingest.funding_stream`); on the configured symbols: ``ohlcv`` — closed 1-minute candles from the newest
  stored one on (``ohlcv_poll_seconds``), so after any outage the stream pages through what it missed;
  ``funding_history`` — settled rates, fetched when a settlement is due; on the funding universe:
  ``open_interest`` — current open interest on the funding cadence, one all-symbol request where the venue has one
  (Binance: one per symbol, :mod:`ingest.open_interest_stream`); ``universe_history`` — settled rates of the
  universe's other symbols, fetched when each pair's settlement is due (Binance: one all-symbol request,
  :mod:`ingest.settled_stream`).
* Faults: ``TransientError`` → exponential backoff with jitter, ``RateLimited`` → the longer schedule
  (:mod:`ingest.retry`), one log line per exchange + stream per backoff step; ``Unsupported`` → that
  stream (or that symbol of it) stops, logged once. Nothing an exchange does crashes the worker.
* Database side: fetched rows wait in the bounded :class:`ingest.buffer.Buffer` and the
  :class:`ingest.writer.Writer` writes them, oldest first; while the database is down they stay buffered
  (overflow counted in ``rows_dropped``) and are written when it returns; writes are idempotent, so nothing is
  duplicated.
* Each kind of batch has its own writer lane, so a blocked table holds up only its kind (:mod:`ingest.writer`).
* SIGTERM/SIGINT: fetching stops, the lanes flush for at most :data:`FLUSH_SECONDS`, queries still running are
  cancelled, and whatever is unwritten goes to the durable spool (:mod:`ingest.spool`), written on the next start;
  exit status 0, well within 10 s whatever the database does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ingest.buffer import Batch, Buffer
from ingest.exchange import TIMEFRAME_MS, ExchangeCallError, ExchangeClient, RateLimited, Unsupported
from ingest.funding_stream import FundingStream
from ingest.memory import trim_heap
from ingest.metrics import Metrics, hypertable_storage
from ingest.open_interest_stream import OpenInterestStream
from ingest.retention import apply_retention
from ingest.retry import network_backoff, rate_limit_backoff
from ingest.sessions import in_thread, short
from ingest.settled_stream import SettledStream
from ingest.spool import Spool
from ingest.symbol_streams import SymbolStreams
from ingest.universe import configured_spellings, linear_perpetuals, resolve_symbols
from ingest.writer import Writer
from settings import Settings

log = logging.getLogger(__name__)

#: Longest time spent flushing the buffer after SIGTERM/SIGINT (seconds); then the rest is spooled and the process
#: exits, within 10 s (``ingest.writer.CANCEL_GRACE_SECONDS`` after this at most, plus the spool's writes).
FLUSH_SECONDS = 5.0
STREAMS = ("funding", "ohlcv", "funding_history", "open_interest", "universe_history")


class Worker(SymbolStreams):
    """The live worker. ``clock()`` returns the current UTC time in epoch seconds (tests pass the fake
    exchange's clock); ``run()`` returns the exit status (0) after a stop request."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.metrics = Metrics()
        self.spool = Spool.for_engine(settings.var_dir, engine)
        self.buffer = Buffer(settings.buffer_max_rows, self.metrics)
        self.symbols = configured_spellings(settings.symbols)  # raises SymbolError for a bad spelling
        self.newest: dict[tuple[str, str, str], datetime] = {}
        self.intervals: dict[str, dict[str, float]] = {}
        self.cadence = {"funding": settings.funding_poll_seconds, "ohlcv": settings.ohlcv_poll_seconds,
                        "funding_history": settings.funding_poll_seconds,
                        "open_interest": settings.funding_poll_seconds,
                        "universe_history": settings.funding_poll_seconds}
        self.marks: dict[str, dict[str, float]] = {}  # newest mark price per exchange + symbol (quote currency)
        self.next_funding: dict[str, dict[str, datetime]] = {}  # next funding time per exchange + symbol (UTC)
        self._net = network_backoff(settings.backoff_scale)
        self._rate = rate_limit_backoff(settings.backoff_scale)
        # Validation's symbol check: the configured symbols; with the whole universe, the venues' market lists are
        # the check (only listed linear perpetuals are fetched) and spooled rows of any of them replay at start.
        known = None if settings.funding_universe == "all" else self.symbols
        self.writer = Writer(settings, engine, self.buffer, self.metrics, known_symbols=known, now=self.now,
                             backoff=self._net, spool=self.spool)
        self.buffer.spill = self.writer.spill  # past the memory bound, batches go to the spool, never dropped
        self._stop: asyncio.Event | None = None

    # --- lifecycle -------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The worker's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), tz=UTC)

    def request_stop(self) -> None:
        """Ask the worker to stop (signal handler; safe to call repeatedly)."""
        if self._stop is not None and not self._stop.is_set():
            log.info("stop requested: flushing %d buffered rows", self.buffer.rows)
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until a stop is requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=max(seconds, 0))

    async def run(self, *, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`request_stop`), then flush and return 0."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        fetchers = [asyncio.create_task(self._exchange(e), name=f"exchange-{e}") for e in self.settings.exchanges]
        loops = (self._metrics_loop, self._storage_loop, self._retention_loop)
        helpers = [asyncio.create_task(loop()) for loop in loops]
        writer = asyncio.create_task(self.writer.run())
        await self._stop.wait()
        for task in fetchers + helpers:
            task.cancel()
        await asyncio.gather(*fetchers, *helpers, return_exceptions=True)
        self._sample_metrics()
        flushed, spooled = await self.writer.stop(deadline=time.monotonic() + FLUSH_SECONDS)
        await asyncio.gather(writer, return_exceptions=True)
        log.info("stopped: %d rows flushed, %d rows spooled to %s (written on the next start), %d rows left unwritten",
                 flushed, spooled, self.spool.directory, self.buffer.rows)
        self.spool.tidy()
        return 0

    # --- exchange side ---------------------------------------------------------------------------------
    async def _retrying(self, exchange: str, stream: str, call: Callable[[], Awaitable]):
        """``await call()`` until it succeeds, backing off on transient errors; raises :class:`Unsupported`
        and ``asyncio.CancelledError``; returns ``None`` when a stop is requested while retrying."""
        attempt = 0
        while not self.stopping:
            try:
                result = await call()
            except ExchangeCallError as e:
                if isinstance(e, Unsupported):
                    raise
                attempt += 1
                self.metrics.inc("fetch_errors", exchange=exchange, stream=stream, error=e.error_class)
                self.metrics.set("stream_up", 0, exchange=exchange, stream=stream)
                schedule = self._rate if isinstance(e, RateLimited) else self._net
                delay = schedule.delay(attempt)
                log.warning("%s %s: %s — %s; retry %d in %.1f s", exchange, stream, e.error_class,
                            short(str(e)), attempt, delay)
                await self._sleep(delay)
            else:
                self.metrics.set("stream_up", 1, exchange=exchange, stream=stream)
                return result
        return None

    async def _exchange(self, exchange: str) -> None:
        async with ExchangeClient(exchange, self.settings) as client:
            try:
                markets = await self._retrying(exchange, "markets", client.load_markets)
            except Unsupported as e:
                log.error("%s: exchange not supported (%s); not ingested", exchange, e.error_class)
                return
            if markets is None:
                return
            funding, symbols = self._universe(client, markets)
            with contextlib.suppress(Unsupported):  # no list: the funding answers' own, else stored settlements
                await self._retrying(client.id, "funding", funding.load_intervals)
            await self._catch_up(client, symbols)
            streams = self._streams(client, funding, symbols)
            await asyncio.gather(*(self._stream(client, s, *streams[s]) for s in STREAMS))

    def _streams(self, client: ExchangeClient, funding: FundingStream, symbols: list[str]) -> dict[str, tuple]:
        """Per stream its symbol list and cycle: the configured symbols' candles and settled funding; the funding
        universe's current funding and open interest; settled funding of the universe beyond the configured symbols
        (:mod:`ingest.settled_stream`)."""
        universe = funding.universe
        interest = OpenInterestStream(client, universe, marks=self.marks[client.id], sink=self._sink, now=self.now,
                                      on_error=lambda e, error: self.metrics.inc(
                                          "fetch_errors", exchange=e, stream="open_interest", error=error))
        settled = SettledStream(client, intervals=self.intervals[client.id],
                                next_funding=self.next_funding[client.id], newest=self.newest, sink=self._sink,
                                now=self.now, backfill_days=self.settings.backfill_days)
        return {"funding": (list(symbols), funding.cycle), "ohlcv": (list(symbols), self._ohlcv_cycle),
                "funding_history": (list(symbols), self._history_cycle),
                "open_interest": (list(universe), interest.cycle),
                "universe_history": ([s for s in universe if s not in symbols], settled.cycle)}

    def _universe(self, client: ExchangeClient, markets: dict) -> tuple[FundingStream, list[str]]:
        """The funding stream over the venue's universe, and the configured symbols resolved on this venue."""
        perpetuals = linear_perpetuals(markets)
        symbols, missing = resolve_symbols(self.settings.symbols, perpetuals)
        for raw in missing:
            log.warning("%s: %s is not listed; skipped", client.id, raw)
        whole = self.settings.funding_universe == "all"
        if self.writer.known_symbols is not None and not set(symbols) <= self.writer.known_symbols:
            self.writer.known_symbols = self.writer.known_symbols | set(symbols)  # e.g. 1000PEPE for PEPE
        log.info("%s: funding universe %d symbols, %d configured", client.id, len(perpetuals if whole else symbols),
                 len(symbols))
        self.intervals[client.id] = {}
        funding = FundingStream(client, perpetuals if whole else symbols, whole_venue=whole,
                                intervals=self.intervals[client.id], marks=self.marks.setdefault(client.id, {}),
                                next_funding=self.next_funding.setdefault(client.id, {}), sink=self._sink,
                                now=self.now)
        return funding, symbols

    async def _stream(self, client: ExchangeClient, stream: str, symbols: list[str],
                      cycle: Callable[[ExchangeClient, list[str]], Awaitable[bool]]) -> None:
        while not self.stopping and symbols:
            started = time.monotonic()
            try:
                done = await self._retrying(client.id, stream, lambda: cycle(client, symbols))
            except Unsupported as e:
                log.error("%s %s: stream stopped: %s (%s)", client.id, stream, e.error_class, short(str(e)))
                self.metrics.set("stream_up", -1, exchange=client.id, stream=stream)
                return
            except Exception as e:  # noqa: BLE001 - e.g. SpanError from a bad page: log, count, next cycle
                log.error("%s %s: cycle failed: %s: %s", client.id, stream, type(e).__name__, short(str(e)))
                self.metrics.inc("fetch_errors", exchange=client.id, stream=stream, error=type(e).__name__)
                self.metrics.set("stream_up", 0, exchange=client.id, stream=stream)
                done = None
            if done is not None:
                self.metrics.set("fetch_latency_seconds", time.monotonic() - started, exchange=client.id,
                                 stream=stream)
            await self._sleep(self.cadence[stream] - (time.monotonic() - started))

    async def _sink(self, kind: str, frame: pd.DataFrame, exchange: str, stream: str) -> None:
        """Buffer fetched rows and remember the newest exchange time per symbol (for paging and lag)."""
        if frame.empty:
            return
        self.buffer.put(Batch(kind, frame, exchange, stream))
        for symbol, newest in pd.to_datetime(frame["time"], utc=True).groupby(frame["symbol"]).max().items():
            key = (exchange, stream, symbol)
            if key not in self.newest or newest > self.newest[key]:
                self.newest[key] = newest.to_pydatetime()

    # --- metrics and retention -------------------------------------------------------------------------
    def _sample_metrics(self) -> None:
        now = self.now()
        self.metrics.set("buffer_depth_rows", self.buffer.rows)
        for (exchange, stream, _), newest in self._newest_per_stream().items():
            lag = (now - newest).total_seconds()
            self.metrics.set("feed_lag_seconds", max(lag, 0.0), exchange=exchange, stream=stream)
        for exchange in self.settings.exchanges:
            for stream in STREAMS:
                self.metrics.set("stream_cadence_seconds", self.cadence[stream], exchange=exchange, stream=stream)
        self.buffer.put(Batch("metrics", self.metrics.sample(now)))

    def _newest_per_stream(self) -> dict[tuple[str, str, str], datetime]:
        out: dict[tuple[str, str, str], datetime] = {}
        for (exchange, stream, _), newest in self.newest.items():
            t = newest + timedelta(milliseconds=TIMEFRAME_MS) if stream == "ohlcv" else newest
            key = (exchange, stream, "")
            out[key] = max(out.get(key, t), t)
        return out

    async def _metrics_loop(self) -> None:
        while not self.stopping:
            self._sample_metrics()
            trim_heap()
            await self._sleep(self.settings.metrics_interval_seconds)

    async def _storage_loop(self) -> None:
        """The hypertables' sizes every ``storage_sample_seconds`` (gauges, written with every metrics sample): they
        visit every chunk (~80 ms over a year of 1-day chunks), so the System page reads these instead."""
        while not self.stopping:
            with contextlib.suppress(SQLAlchemyError):  # database down: reported by database_up, buffer_depth_rows
                self.metrics.set_storage(await in_thread(hypertable_storage, self.engine))
            await self._sleep(self.settings.storage_sample_seconds)

    async def _retention_loop(self) -> None:
        while not self.stopping:
            try:
                await in_thread(apply_retention, self.engine, self.settings)
            except SQLAlchemyError as e:
                log.warning("retention skipped: database unreachable (%s)", type(e).__name__)
            await self._sleep(self.settings.retention_check_seconds)
