"""The database side of the live worker: one writer lane per kind of batch, bounded sessions, a durable spool.

Fetchers put batches into the :class:`ingest.buffer.Buffer`; :class:`Writer` runs one lane per kind
(:data:`WRITERS`: candles, funding, metrics), each taking runs of its own batches (up to :data:`WRITE_BATCH_ROWS`
rows) and writing them in a daemon thread (:mod:`ingest.pipeline`: validate → anomalies → idempotent writes;
metric samples straight to ``system_metrics``). A locked or slow table holds up only its own lane.

* Sessions are bounded (:func:`ingest.sessions.write_engine`): ``lock_timeout`` and ``statement_timeout`` from
  settings, TCP keepalives, so no write waits on a lock or a dead server for long.
* Database unreachable, a lock or statement timeout, a cancelled query (``OperationalError``): the batch goes back
  to the front of its lane and the lane retries after the network backoff (:mod:`ingest.retry`); nothing is
  duplicated when it succeeds (writes are idempotent).
* Any other error on a batch: it can never be written (e.g. a value the database rejects); it is logged with an
  excerpt, counted in ``rows_dropped`` and kept under the spool's ``rejected/`` for inspection.
* When a lane has nothing in memory it replays the spool (:mod:`ingest.spool`), oldest file first: at start that
  writes what the previous run could not.
* :meth:`Writer.stop` (SIGTERM): the lanes drain their memory until a deadline; then every query still running
  is cancelled (``psycopg`` cancel request), and whatever is buffered or was in flight is saved to the spool.
  It returns within ``deadline + CANCEL_GRACE_SECONDS`` whatever the database does: a thread still blocked is
  abandoned (daemon), its batch already safe in the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from datetime import datetime

import psycopg
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from db.writes import write_metrics
from ingest.buffer import Batch, Buffer
from ingest.metrics import Metrics
from ingest.pipeline import PipelineResult, ingest_candles, ingest_funding, ingest_open_interest
from ingest.retry import Backoff
from ingest.sessions import Sessions, in_thread, short
from ingest.spool import Spool
from settings import Settings

log = logging.getLogger(__name__)

#: Most rows merged into one database write.
WRITE_BATCH_ROWS = 50_000
#: How long a lane idles when it has nothing to write (seconds).
WRITER_IDLE_SECONDS = 0.2
#: After the flush deadline and the cancel requests, how long lanes get to notice before their batches are spooled.
CANCEL_GRACE_SECONDS = 1.0
#: The database is unreachable, went away mid-batch, or a timeout / cancel ended the query: keep the batch, retry.
DB_ERRORS = (OperationalError, psycopg.OperationalError)


class Writer:
    """Writes the batches of ``buffer`` into ``engine``. ``known_symbols`` is the validation's symbol set,
    ``now()`` the worker's clock (aware UTC), ``backoff`` the schedule between retries while the database is
    unreachable, ``spool`` where unwritten batches go (module docstring); ``metrics`` receives
    ``write_latency_seconds``, ``rows_written``, ``rows_rejected``, ``rows_dropped``, ``rows_spooled`` and
    ``database_up``."""

    def __init__(self, settings: Settings, engine: Engine, buffer: Buffer, metrics: Metrics, *,
                 known_symbols: Collection[str], now: Callable[[], datetime], backoff: Backoff,
                 spool: Spool) -> None:
        self.settings = settings
        self.engine = engine
        self.buffer = buffer
        self.metrics = metrics
        self.known_symbols = known_symbols
        self.now = now
        self.backoff = backoff
        self.spool = spool
        self.flushed = 0
        self._sessions = Sessions(engine)
        self._inflight: dict[str, Batch] = {}
        self._loaded: set = set()
        self._deadline: float | None = None
        self._draining = asyncio.Event()
        self._lanes: list[asyncio.Task] = []

    # --- writing one batch ------------------------------------------------------------------------------------
    def _write(self, batch: Batch) -> PipelineResult | None:
        """Write one batch through its kind's writer (runs in a thread); returns the pipeline result (``None`` for
        metrics) and raises SQLAlchemy errors."""
        return WRITERS[batch.kind](self, batch)

    def _count(self, batch: Batch, result: PipelineResult | None, seconds: float) -> None:
        if result is None:
            return
        labels = {"exchange": batch.exchange, "stream": batch.stream}
        self.metrics.set("write_latency_seconds", seconds, **labels)
        self.metrics.inc("rows_written", result.written, **labels)
        for (_, _, reason), n in result.rejected.items():
            self.metrics.inc("rows_rejected", n, reason=reason, **labels)

    def _next(self, kind: str) -> Batch | None:
        """The next batch of ``kind``: from memory, else (not while stopping) the oldest spool file not loaded."""
        batch = self.buffer.take_run(WRITE_BATCH_ROWS, kind)
        if batch is not None or self._deadline is not None:
            return batch
        for path in self.spool.pending(kind):
            if path in self._loaded:
                continue
            try:
                batch = self.spool.load(path)
            except (OSError, ValueError, KeyError) as e:
                log.error("spool file %s unreadable (%s); moved to %s", path.name, short(str(e)),
                          self.spool.reject_file(path))
                continue
            self._loaded.add(path)
            log.info("replaying %d %s rows from the spool (%s)", len(batch.frame), kind, path.name)
            return batch
        return None

    async def write_one(self, kind: str) -> bool | None:
        """Write the next run of ``kind``: True written (or set aside for good), False failed (kept), None nothing
        to write."""
        batch = self._next(kind)
        if batch is None:
            return None
        self._inflight[kind] = batch
        started = time.monotonic()
        try:
            result = await in_thread(self._write, batch)
        except DB_ERRORS as e:
            self._inflight.pop(kind, None)
            self.buffer.put_back(batch)
            self.metrics.set("database_up", 0)
            log.warning("%s not written (%s: %s); %d rows buffered", kind, type(e).__name__, short(str(e)),
                        self.buffer.rows)
            return False
        except asyncio.CancelledError:
            raise  # the batch stays in flight: stop() spools it
        except Exception as e:  # noqa: BLE001 - one unwritable batch must never stop the writer
            self._inflight.pop(kind, None)
            where = self.spool.reject(batch)
            log.error("batch of %d %s rows from %s %s not writable, kept in %s: %s; e.g. %s", len(batch.frame),
                      batch.kind, batch.exchange, batch.stream, where, short(str(e)),
                      batch.frame.head(2).to_dict("records"))
            self.metrics.inc("rows_dropped", len(batch.frame))
            return True
        self._inflight.pop(kind, None)
        self.spool.done(batch)
        self._loaded.difference_update(batch.spool)
        self.flushed += len(batch.frame)
        self._count(batch, result, time.monotonic() - started)
        self.metrics.set("database_up", 1)
        return True

    # --- lanes ------------------------------------------------------------------------------------------------
    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until a stop begins (and never past the stop's deadline)."""
        if self._deadline is not None:
            seconds = min(seconds, max(self._deadline - time.monotonic(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._draining.wait(), timeout=seconds)

    async def _lane(self, kind: str) -> None:
        attempt = 0
        while True:
            stopping = self._deadline is not None
            if stopping and (time.monotonic() >= self._deadline or not self.buffer.rows_of(kind)):
                return
            outcome = await self.write_one(kind)
            if outcome is None:
                await self._pause(WRITER_IDLE_SECONDS)
            elif outcome:
                attempt = 0
            else:
                attempt += 1
                await self._pause(self.backoff.delay(attempt))

    async def run(self) -> None:
        """Run one lane per kind of :data:`WRITERS` until :meth:`stop`."""
        self._lanes = [asyncio.create_task(self._lane(kind), name=f"writer-{kind}") for kind in WRITERS]
        await asyncio.gather(*self._lanes, return_exceptions=True)

    async def stop(self, deadline: float) -> tuple[int, int]:
        """Drain the lanes until ``deadline`` (``time.monotonic()``), cancel the queries still running, spool the
        rest (module docstring). Returns ``(rows written since the stop began, rows spooled)``; rows neither
        written nor spooled (the spool failed) stay in :attr:`buffer`."""
        written_before = self.flushed
        self._deadline = deadline
        self._draining.set()
        lanes = [t for t in self._lanes if not t.done()]
        if lanes:
            await asyncio.wait(lanes, timeout=max(deadline - time.monotonic(), 0.0))
        if any(not t.done() for t in lanes):
            cancelled = self._sessions.cancel_all()
            log.info("flush deadline: %d running queries cancelled", cancelled)
            await asyncio.wait(lanes, timeout=CANCEL_GRACE_SECONDS)
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        return self.flushed - written_before, self._spool_rest()

    def _spool_rest(self) -> int:
        """Save every batch in flight or buffered to the spool (batches already there are rewritten as merged, then
        their old files removed); returns the rows saved."""
        pending = [*self._inflight.values(), *self.buffer.clear()]
        self._inflight.clear()
        saved = 0
        for batch in pending:
            try:
                self.spool.save(batch)
            except OSError as e:
                log.error("spool failed (%s): %d %s rows kept in memory only", short(str(e)), len(batch.frame),
                          batch.kind)
                self.buffer.put_back(batch)
                continue
            self.spool.done(batch)
            saved += len(batch.frame)
            self.metrics.inc("rows_spooled", len(batch.frame))
        return saved

    def spill(self, batch: Batch) -> None:
        """Save a batch the buffer pushed out (``Buffer.spill``) to the spool; replayed when its lane is idle."""
        self.spool.save(batch)
        self.spool.done(batch)
        self._loaded.difference_update(batch.spool)
        self.metrics.inc("rows_spooled", len(batch.frame))


def _write_candles(writer: Writer, batch: Batch) -> PipelineResult:
    return ingest_candles(writer.engine, batch.frame, writer.settings, known_symbols=writer.known_symbols,
                          now=writer.now())


def _write_funding(writer: Writer, batch: Batch) -> PipelineResult:
    return ingest_funding(writer.engine, batch.frame, writer.settings, known_symbols=writer.known_symbols,
                          now=writer.now())


def _write_open_interest(writer: Writer, batch: Batch) -> PipelineResult:
    return ingest_open_interest(writer.engine, batch.frame, writer.settings, known_symbols=writer.known_symbols,
                                now=writer.now())


def _write_metrics(writer: Writer, batch: Batch) -> None:
    write_metrics(writer.engine, batch.frame)


#: The writer of each kind of batch; each kind gets its own lane. A new kind of data adds one entry.
WRITERS: dict[str, Callable[[Writer, Batch], PipelineResult | None]] = {
    "candles": _write_candles, "funding": _write_funding, "metrics": _write_metrics,
    "open_interest": _write_open_interest,
}
