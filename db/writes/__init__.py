"""Idempotent batched writes into the hypertables (the write side; the app never imports it).

Every writer takes a ``pandas.DataFrame`` with the columns of one table (``ingest.rows.*_COLUMNS``), and:

1. ``COPY``s it (one round trip; binary format encoded with numpy by :mod:`db.pgcopy`: exact floats and
   timestamps, NULLs kept) into a temporary staging table shaped like the target
   (``CREATE TEMP TABLE … AS SELECT … WITH NO DATA``, dropped at commit);
2. moves it with one ``INSERT … SELECT … ON CONFLICT ON CONSTRAINT pk_<table>`` into the hypertable:
   ``DO NOTHING`` where a stored row never changes (anomalies, metrics), ``DO UPDATE … WHERE
   IS DISTINCT FROM`` where a value legitimately changes (funding: a settled row may gain its mark price
   later; candle rollups grow while their bucket fills; a candle stored before the exchange closed it is
   corrected when fetched again, its candle anomalies deleted for the batch's recomputed ones). Duplicates
   inside one batch are removed in SQL first.
   Candles (and anomaly batches of at least :data:`DIRECT_COPY_MIN_ROWS`) have a fast path: when nothing is
   stored in the batch's key ranges and the batch has no duplicate keys, one binary ``COPY`` straight into the
   hypertable, no staging (the primary key still guards: a concurrent insert of the same key rolls the
   savepoint back and the batch takes the ``ON CONFLICT`` path).

So a duplicate never loses the rest of its batch, and replaying the same data writes 0 rows (the returned
count is rows inserted or actually changed). The whole batch is one transaction: on error nothing is written
and the exception (``sqlalchemy.exc.OperationalError`` when the database is unreachable, ``DBAPIError``
otherwise) propagates, so the caller can keep the batch and retry.

**Candle rollups** (:data:`ROLLUP_TIMEFRAMES`: 15-minute and 1-hour). After 1-minute candles are written,
:func:`write_candles` upserts the rollup candles (``timeframe='15m'`` and ``'1h'``) of every hour that received
new 1-minute rows (same exchange, symbol, price kind): open = ``first(open, time)``, high = ``max(high)``,
low = ``min(low)``, close = ``last(close, time)``, volume/quote_volume = ``sum`` over the 1-minute rows stored in
that bucket (TimescaleDB ``first``/``last``, available in the Apache edition). ``ON CONFLICT DO UPDATE``, so a
partially filled bucket is corrected when its remaining minutes arrive. The app charts long ranges from these
rows (30 days × 5 symbols = 3,600 hourly rows; 7 days × 5 symbols = 3,360 15-minute rows instead of 50,400
one-minute rows). When no stored 1-minute candle shares the batch's hours (bulk loads, backfill of empty
ranges), the same aggregates are computed from the batch itself (:func:`candle_rollups`) instead of re-reading
the hypertable.

**Funding rollups** (:data:`~db.schema.FUNDING_ROLLUPS`: ``funding_rates_15m`` and ``funding_rates_1h``).
:func:`write_funding` likewise recomputes, from one read of the stored rows, the 15-minute and hourly rollup rows
of every exchange + symbol + settled flag + hour that received an inserted or changed funding row (mean rate, the
bucket's last rate / interval / mark / index, row count; ``ON CONFLICT DO UPDATE … WHERE IS DISTINCT FROM``). A
7-day funding chart reads 672 15-minute rows per series and a 30-day one ~720 hourly rows, instead of ~10,000 and
~43,000 one-minute snapshots.
"""

from __future__ import annotations

from db.writes.anomalies import DIRECT_COPY_MIN_ROWS, write_anomalies
from db.writes.candles import ROLLUP_TIMEFRAMES, ROLLUP_WIDTHS, candle_rollups, write_candles
from db.writes.common import ANOMALY_COLUMNS, CANDLE_COLUMNS, FUNDING_COLUMNS, METRIC_COLUMNS, WriteResult
from db.writes.funding import write_funding
from db.writes.metrics import write_metrics
from db.writes.open_interest import OPEN_INTEREST_COLUMNS, write_open_interest

__all__ = [
    "ANOMALY_COLUMNS", "CANDLE_COLUMNS", "DIRECT_COPY_MIN_ROWS", "FUNDING_COLUMNS", "METRIC_COLUMNS",
    "OPEN_INTEREST_COLUMNS", "ROLLUP_TIMEFRAMES", "ROLLUP_WIDTHS", "WriteResult", "candle_rollups",
    "write_anomalies", "write_candles", "write_funding", "write_metrics", "write_open_interest",
]  # fmt: skip
