"""The database side of the live worker: writes buffered batches through the pipeline, oldest first.

Fetchers put batches into the bounded :class:`ingest.buffer.Buffer`; :class:`Writer` takes runs of batches of one
kind + exchange + stream (up to :data:`WRITE_BATCH_ROWS` rows) and writes them in a thread
(:mod:`ingest.pipeline`: validate → anomalies → idempotent writes; metric samples straight to ``system_metrics``).

* Database unreachable (``OperationalError``): the batch goes back to the front of the buffer and the writer
  retries after the network backoff (:mod:`ingest.retry`); nothing is duplicated when it returns (writes are
  idempotent).
* Any other error on a batch: the batch cannot ever be written (e.g. a value the database rejects); it is logged
  with an excerpt, counted in ``rows_dropped`` and the writer goes on.
* :meth:`Writer.flush` writes what is buffered until empty, a failure or a deadline (used at shutdown).
"""

from __future__ import annotations

import asyncio
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
from ingest.pipeline import PipelineResult, ingest_candles, ingest_funding
from ingest.retry import Backoff
from settings import Settings

log = logging.getLogger(__name__)

#: Most rows merged into one database write.
WRITE_BATCH_ROWS = 50_000
#: How long the writer idles when the buffer is empty (seconds).
WRITER_IDLE_SECONDS = 0.2
#: The database is unreachable or went away mid-batch: keep the batch and retry.
DB_ERRORS = (OperationalError, psycopg.OperationalError)


def short(message: str, limit: int = 160) -> str:
    """The first line of ``message``, cut to ``limit`` characters (for one-line logs)."""
    line = message.splitlines()[0] if message else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Writer:
    """Writes the batches of ``buffer`` into ``engine``. ``known_symbols`` is the validation's symbol set,
    ``now()`` the worker's clock (aware UTC), ``backoff`` the schedule between retries while the database is
    unreachable; ``metrics`` receives ``write_latency_seconds``, ``rows_written``, ``rows_rejected``,
    ``rows_dropped`` and ``database_up``."""

    def __init__(self, settings: Settings, engine: Engine, buffer: Buffer, metrics: Metrics, *,
                 known_symbols: Collection[str], now: Callable[[], datetime], backoff: Backoff) -> None:
        self.settings = settings
        self.engine = engine
        self.buffer = buffer
        self.metrics = metrics
        self.known_symbols = known_symbols
        self.now = now
        self.backoff = backoff

    def _write(self, batch: Batch) -> PipelineResult | None:
        """Write one batch through the pipeline (runs in a thread); returns the pipeline result (``None`` for
        metrics) and raises SQLAlchemy errors."""
        if batch.kind == "metrics":
            write_metrics(self.engine, batch.frame)
            return None
        ingest = ingest_candles if batch.kind == "candles" else ingest_funding
        return ingest(self.engine, batch.frame, self.settings, known_symbols=self.known_symbols, now=self.now())

    def _count(self, batch: Batch, result: PipelineResult | None, seconds: float) -> None:
        if result is None:
            return
        labels = {"exchange": batch.exchange, "stream": batch.stream}
        self.metrics.set("write_latency_seconds", seconds, **labels)
        self.metrics.inc("rows_written", result.written, **labels)
        for (_, _, reason), n in result.rejected.items():
            self.metrics.inc("rows_rejected", n, reason=reason, **labels)

    async def write_one(self) -> bool | None:
        """Write the next run of batches: True written, False failed (kept), None buffer empty."""
        batch = self.buffer.take_run(WRITE_BATCH_ROWS)
        if batch is None:
            return None
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(self._write, batch)
        except DB_ERRORS as e:
            self.buffer.put_back(batch)
            self.metrics.set("database_up", 0)
            log.warning("database unreachable (%s: %s); %d rows buffered", type(e).__name__, short(str(e)),
                        self.buffer.rows)
            return False
        except Exception as e:  # noqa: BLE001 - one unwritable batch must never stop the writer
            log.error("batch of %d %s rows from %s %s not writable, dropped: %s; e.g. %s", len(batch.frame),
                      batch.kind, batch.exchange, batch.stream, short(str(e)), batch.frame.head(2).to_dict("records"))
            self.metrics.inc("rows_dropped", len(batch.frame))
            return True
        self._count(batch, result, time.monotonic() - started)
        self.metrics.set("database_up", 1)
        return True

    async def run(self) -> None:
        """Write batches as they arrive, forever (cancel to stop); backs off while the database is unreachable."""
        attempt = 0
        while True:
            outcome = await self.write_one()
            if outcome is None:
                await asyncio.sleep(WRITER_IDLE_SECONDS)
            elif outcome:
                attempt = 0
            else:
                attempt += 1
                await asyncio.sleep(self.backoff.delay(attempt))

    async def flush(self, deadline: float) -> int:
        """Write what is buffered until empty, a database failure or ``deadline`` (``time.monotonic()``);
        returns the rows written."""
        flushed = 0
        while self.buffer.rows and time.monotonic() < deadline:
            before = self.buffer.rows
            try:
                outcome = await asyncio.wait_for(self.write_one(), timeout=max(deadline - time.monotonic(), 0.1))
            except TimeoutError:
                break
            if not outcome:
                break
            flushed += before - self.buffer.rows
        return flushed
