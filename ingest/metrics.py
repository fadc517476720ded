"""Pipeline-health metrics of the ingest worker, written into ``system_metrics`` every
``settings.metrics_interval_seconds`` (default 5 s). The app's system page and ``/api/health`` read them.

Every sample is one row ``(time, metric, value, unit, labels)``. *Gauges* carry the latest value; *counters*
carry the **increase since the previous sample** (so ``sum`` over a time bucket is the total in that
bucket); a counter's label set is written every interval from its first occurrence on (zeros included).
Streams: ``funding`` (current/predicted funding snapshots), ``ohlcv`` (closed 1-minute candles),
``funding_history`` (settled funding; the rows of ``universe_history``, the funding universe's other symbols, are
written under this label too), ``open_interest`` (open-interest snapshots), ``universe_history`` (its fetch
metrics). ``exchange`` is the ccxt id.

======================== ========= ================================= =======================================
metric                   unit      labels                            meaning
======================== ========= ================================= =======================================
fetch_latency_seconds    seconds   exchange, stream                  gauge: duration of the latest successful
                                                                     fetch cycle of the stream
rows_written             rows      exchange, stream                  counter: rows inserted or changed
rows_rejected            rows      exchange, stream, reason          counter: rows refused by validation
                                                                     (reason codes: ``ingest.validate``)
fetch_errors             count     exchange, stream, error           counter: failed exchange calls by ccxt
                                                                     exception class (``RequestTimeout`` …)
feed_lag_seconds         seconds   exchange, stream                  gauge: now − newest exchange time
                                                                     received (candles: close time)
stream_cadence_seconds   seconds   exchange, stream                  gauge: the stream's expected cadence
stream_up                bool      exchange, stream                  gauge: 1 latest fetch succeeded, 0 failing,
                                                                     −1 stopped (unsupported)
write_latency_seconds    seconds   exchange, stream                  gauge: duration of the latest DB write
buffer_depth_rows        rows      (none)                            gauge: rows waiting for the database
rows_dropped             rows      (none)                            counter: rows the database refused for good
                                                                     (kept in the spool's ``rejected/``)
rows_spooled             rows      (none)                            counter: rows saved to the spool (buffer
                                                                     overflow, shutdown); replayed later
database_up              bool      (none)                            gauge: 1 latest write succeeded, else 0
worker_rss_bytes         bytes     worker                            gauge: resident memory (psutil)
worker_cpu_percent       percent   worker                            gauge: CPU since the previous sample
                                                                     (psutil; 100 = one core)
hypertable_bytes         bytes     table                             gauge: table + indexes + TOAST of all
                                                                     chunks (``db.storage``), sampled every
                                                                     ``storage_sample_seconds``
hypertable_chunks        chunks    table                             gauge: number of chunks, sampled with
                                                                     ``hypertable_bytes``
======================== ========= ================================= =======================================
"""

from __future__ import annotations

import os
from datetime import datetime

import pandas as pd
import psutil
from sqlalchemy import Engine

from db.storage import hypertable_sizes
from ingest.rows import MetricRow, rows_to_frame

_UNITS = {
    "fetch_latency_seconds": "seconds", "rows_written": "rows", "rows_rejected": "rows", "fetch_errors": "count",
    "feed_lag_seconds": "seconds", "stream_cadence_seconds": "seconds", "stream_up": "bool",
    "write_latency_seconds": "seconds", "buffer_depth_rows": "rows", "rows_dropped": "rows", "rows_spooled": "rows",
    "database_up": "bool",
    "worker_rss_bytes": "bytes", "worker_cpu_percent": "percent", "hypertable_bytes": "bytes",
    "hypertable_chunks": "chunks",
}


def _check(metric: str) -> None:
    if metric not in _UNITS:
        raise KeyError(f"unknown metric {metric!r}; known: {', '.join(_UNITS)}")


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


class Metrics:
    """In-process gauges and counters of one worker (an instance per worker, no module state).

    ``set`` a gauge, ``inc`` a counter; :meth:`sample` returns the rows to write and resets counters.
    Raises ``KeyError`` for a metric name not in the table above."""

    def __init__(self) -> None:
        self._gauges: dict[tuple[str, tuple], float] = {}
        self._counters: dict[tuple[str, tuple], float] = {}
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # first call primes the CPU measurement

    def set(self, metric: str, value: float, **labels: str) -> None:
        """Set gauge ``metric`` for ``labels`` to ``value`` (unit from the table)."""
        _check(metric)
        self._gauges[(metric, _key(labels))] = float(value)

    def set_storage(self, sizes: pd.DataFrame) -> None:
        """Set the ``hypertable_bytes`` and ``hypertable_chunks`` gauges of every table in ``sizes``
        (:func:`hypertable_storage`)."""
        for row in sizes.itertuples(index=False):
            self.set("hypertable_bytes", row.total_bytes, table=row.table_name)
            self.set("hypertable_chunks", row.chunks, table=row.table_name)

    def inc(self, metric: str, amount: float = 1, **labels: str) -> None:
        """Add ``amount`` to counter ``metric`` for ``labels``."""
        _check(metric)
        key = (metric, _key(labels))
        self._counters[key] = self._counters.get(key, 0.0) + amount

    def sample(self, now: datetime, worker: str = "ingest") -> pd.DataFrame:
        """All gauges, the counters' increases since the last sample (then zeroed) and the process's RSS and
        CPU, as a ``system_metrics`` frame stamped ``now``."""
        self.set("worker_rss_bytes", self._process.memory_info().rss, worker=worker)
        self.set("worker_cpu_percent", self._process.cpu_percent(None), worker=worker)
        rows = [MetricRow(now, m, v, _UNITS[m], dict(k)) for (m, k), v in {**self._gauges, **self._counters}.items()]
        self._counters = dict.fromkeys(self._counters, 0.0)
        return rows_to_frame(rows, MetricRow)


def hypertable_storage(engine: Engine) -> pd.DataFrame:
    """Every hypertable's size and chunk count (``db.storage.hypertable_sizes``: ``table_name``, ``total_bytes``,
    ``chunks``), read on a connection of ``engine``; for :meth:`Metrics.set_storage`. Raises SQLAlchemy's errors
    when the database is unreachable."""
    with engine.connect() as conn:
        return hypertable_sizes(conn)
