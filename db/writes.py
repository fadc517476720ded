"""Idempotent batched writes into the hypertables (the write side; the app never imports it).

Every writer takes a ``pandas.DataFrame`` with the columns of one table (``ingest.rows.*_COLUMNS``), and:

1. ``COPY``s it (one round trip; binary format encoded with numpy by :mod:`db.pgcopy`: exact floats and
   timestamps, NULLs kept) into a temporary staging table shaped like the target
   (``CREATE TEMP TABLE … AS SELECT … WITH NO DATA``, dropped at commit);
2. moves it with one ``INSERT … SELECT … ON CONFLICT ON CONSTRAINT pk_<table>`` into the hypertable:
   ``DO NOTHING`` where a stored row never changes (closed candles, anomalies, metrics), ``DO UPDATE … WHERE
   IS DISTINCT FROM`` where a value legitimately changes (funding: a settled row may gain its mark price
   later; candle rollups grow while their bucket fills). Duplicates inside one batch are removed in SQL first.
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

import json
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.exc import IntegrityError

from db.pgcopy import encode_parts
from db.schema import FUNDING_ROLLUPS, anomalies, funding_rates, prices, system_metrics

CANDLE_COLUMNS = ("time", "exchange", "symbol", "timeframe", "price_kind", "open", "high", "low", "close",
                  "volume", "quote_volume")
FUNDING_COLUMNS = ("time", "exchange", "symbol", "settled", "funding_rate", "funding_interval_hours",
                   "mark_price", "index_price", "next_funding_time")
ANOMALY_COLUMNS = ("time", "exchange", "symbol", "metric", "method", "value", "centre", "spread", "z_score",
                   "threshold", "window")
METRIC_COLUMNS = ("time", "metric", "value", "unit", "labels")

_PRICE_KEY = ("exchange", "symbol", "timeframe", "price_kind", "time")
#: Candle rollups ingest maintains from the 1-minute rows (ccxt timeframe -> bucket width), finest first. Each
#: width divides the coarsest (:data:`_ROLLUP_SPAN`, one hour), so the hours a batch touches hold whole buckets
#: of every rollup timeframe: hours are the unit of the probe and of ``touched_hours``.
ROLLUP_WIDTHS: dict[str, pd.Timedelta] = {"15m": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1)}
ROLLUP_TIMEFRAMES: tuple[str, ...] = tuple(ROLLUP_WIDTHS)
_ROLLUP_SPAN = max(ROLLUP_WIDTHS.values())
#: Binary COPY types (:mod:`db.pgcopy`) of the candle and anomaly columns.
_CANDLE_TYPES = dict(zip(CANDLE_COLUMNS, ("timestamptz", "text", "text", "text", "text", "float8", "float8",
                                          "float8", "float8", "float8", "float8"), strict=True))
_ANOMALY_TYPES = dict(zip(ANOMALY_COLUMNS, ("timestamptz", "text", "text", "text", "text", "float8", "float8",
                                            "float8", "float8", "float8", "int4"), strict=True))
_FUNDING_KEY = ("exchange", "symbol", "settled", "time")
_FUNDING_TYPES = dict(zip(FUNDING_COLUMNS, ("timestamptz", "text", "text", "bool", "float8", "float8", "float8",
                                            "float8", "timestamptz"), strict=True))
_METRIC_TYPES = dict(zip(METRIC_COLUMNS, ("timestamptz", "text", "float8", "text", "jsonb"), strict=True))
#: Binary COPY types of each target's columns, for :func:`_stage`.
_TYPES = {prices.name: _CANDLE_TYPES, funding_rates.name: _FUNDING_TYPES, system_metrics.name: _METRIC_TYPES}


@dataclass(frozen=True)
class WriteResult:
    """``written``: rows inserted or changed in the target; ``received``: rows in the batch;
    ``rollups``: rollup rows inserted or updated (candles: :data:`ROLLUP_TIMEFRAMES` candles, e.g. 4 × 15m + 1 × 1h
    per touched hour; funding: :data:`~db.schema.FUNDING_ROLLUPS` rows, e.g. 4 × 15m + 1 × 1h per touched hour)."""

    written: int
    received: int
    rollups: int = 0


def _q(name: str) -> str:
    return f'"{name}"'


def _copy_binary(conn: Connection, table: str, types: dict[str, str], frame: pd.DataFrame) -> None:
    """Binary ``COPY`` of ``frame[list(types)]`` into ``table`` (buffers encoded by :mod:`db.pgcopy` with numpy,
    no per-row Python; the server parses no text)."""
    cols = ", ".join(_q(c) for c in types)
    with conn.connection.driver_connection.cursor() as cur, cur.copy(
        f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        for part in encode_parts(frame, types):  # the server parses a group while the next is encoded
            copy.write(part)


def _upsert_binary(conn: Connection, target: str, types: dict[str, str], frame: pd.DataFrame,
                   on_conflict: str) -> int:
    """Binary COPY of ``frame`` into a temporary staging table with ``types``' columns of ``target``, then one
    ``INSERT … SELECT … ON CONFLICT ON CONSTRAINT pk_<target> <on_conflict>``; returns rows inserted/changed."""
    stage = f"stage_bin_{target}"
    cols = ", ".join(_q(c) for c in types)
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} "
                      "WITH NO DATA"))
    conn.execute(text(f"TRUNCATE {stage}"))  # several batches may share one outer transaction
    _copy_binary(conn, stage, types, frame)
    return conn.execute(text(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
                             f"ON CONFLICT ON CONSTRAINT pk_{target} {on_conflict}")).rowcount


def _stage(conn: Connection, target: str, columns: tuple[str, ...], frame: pd.DataFrame) -> str:
    """A temporary staging table with ``columns`` of ``target`` (same column types), loaded with ``frame`` by
    binary COPY (types from :data:`_TYPES`); dropped at commit. Returns its name."""
    stage = f"stage_{target}"
    cols = ", ".join(_q(c) for c in columns)
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} "
                      "WITH NO DATA"))
    conn.execute(text(f"TRUNCATE {stage}"))  # several batches may share one outer transaction
    _copy_binary(conn, stage, {c: _TYPES[target][c] for c in columns}, frame)
    return stage


def _insert_sql(target: str, stage: str, columns: tuple[str, ...], on_conflict: str,
                distinct_on: tuple[str, ...] | None = None) -> str:
    cols = ", ".join(_q(c) for c in columns)
    select = f"SELECT {cols} FROM {stage}"
    if distinct_on:
        key = ", ".join(_q(c) for c in distinct_on)
        select = f"SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}"
    return f"INSERT INTO {target} ({cols}) {select} ON CONFLICT ON CONSTRAINT pk_{target} {on_conflict}"


def _run(bind: Engine | Connection, work) -> WriteResult:
    if isinstance(bind, Connection):
        return work(bind)
    with bind.begin() as conn:
        return work(conn)


_RANGE_STORED = text(
    "SELECT EXISTS (SELECT 1 FROM prices WHERE exchange = :exchange AND symbol = :symbol AND timeframe = :timeframe "
    "AND price_kind = :price_kind AND time BETWEEN :lo AND :hi), "
    "EXISTS (SELECT 1 FROM prices WHERE exchange = :exchange AND symbol = :symbol AND timeframe = :timeframe "
    "AND price_kind = :price_kind AND time >= :hour_lo AND time < :hour_hi)"
)


def _probe(conn: Connection, frame: pd.DataFrame) -> tuple[bool, bool]:
    """``(can_conflict, hours_shared)`` of a candle batch, by a primary-key range probe per exchange + symbol +
    timeframe + price kind: ``can_conflict`` when a stored candle lies in a series' time range or the batch
    repeats a key; ``hours_shared`` when a stored candle lies in the whole hours that range touches (so the
    candle rollups must be computed from stored rows too, not from the batch alone)."""
    times = pd.to_datetime(frame["time"], utc=True)
    ranges = times.groupby([frame[c] for c in _PRICE_KEY[:-1]]).agg(["min", "max", "size", "nunique"])
    if (ranges["size"] != ranges["nunique"]).any():  # the batch repeats a key
        return True, True
    shared = False
    for (exchange, symbol, timeframe, kind), (lo, hi, _, _) in ranges.iterrows():
        params = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "price_kind": kind,
                  "lo": lo.to_pydatetime(), "hi": hi.to_pydatetime(), "hour_lo": lo.floor(_ROLLUP_SPAN).to_pydatetime(),
                  "hour_hi": (hi.floor(_ROLLUP_SPAN) + _ROLLUP_SPAN).to_pydatetime()}
        conflict, in_hours = conn.execute(_RANGE_STORED, params).one()
        if conflict:
            return True, True
        shared = shared or in_hours
    return False, shared


def _copy_new_candles(conn: Connection, frame: pd.DataFrame) -> bool:
    """Fast path for a batch none of whose keys can be stored yet: one binary ``COPY`` straight into the
    hypertable, no staging. False when a concurrent writer stored one of its keys meanwhile (savepoint rolled
    back; the caller takes the upsert path)."""
    try:
        with conn.begin_nested():
            _copy_binary(conn, prices.name, _CANDLE_TYPES, frame)
    except IntegrityError:
        return False
    return True


def _touch_hours(conn: Connection, frame: pd.DataFrame) -> None:
    """Fill ``touched_hours`` with the hours (per exchange, symbol, price kind) of ``frame``'s 1-minute rows."""
    one_minute = frame[frame["timeframe"] == "1m"]
    hours = pd.DataFrame({"exchange": one_minute["exchange"], "symbol": one_minute["symbol"],
                          "price_kind": one_minute["price_kind"],
                          "bucket": pd.to_datetime(one_minute["time"], utc=True).dt.floor(_ROLLUP_SPAN)})
    hours = hours.drop_duplicates()
    _copy_binary(conn, "touched_hours", {"exchange": "text", "symbol": "text", "price_kind": "text",
                                         "bucket": "timestamptz"}, hours)


def _upsert_staged_candles(conn: Connection, frame: pd.DataFrame) -> int:
    """Slow path: staging table + ``INSERT … ON CONFLICT DO NOTHING``; records the hours of the 1-minute rows
    actually inserted in ``touched_hours``. Returns rows inserted."""
    stage = _stage(conn, prices.name, CANDLE_COLUMNS, frame)
    insert = _insert_sql(prices.name, stage, CANDLE_COLUMNS, "DO NOTHING")
    return conn.execute(text(
        f"WITH ins AS ({insert} RETURNING exchange, symbol, timeframe, price_kind, time), "
        "t AS (INSERT INTO touched_hours SELECT DISTINCT exchange, symbol, price_kind, "
        f"time_bucket({_sql_interval(_ROLLUP_SPAN)}, time) FROM ins WHERE timeframe = '1m' RETURNING 1) "
        "SELECT (SELECT count(*) FROM ins)"
    )).scalar_one()


def candle_rollups(frame: pd.DataFrame) -> pd.DataFrame:
    """The rollup candles (``CANDLE_COLUMNS``, one block per :data:`ROLLUP_TIMEFRAMES` entry, ``time`` = bucket
    start, UTC) of the 1-minute rows of ``frame``, by the same rule as the SQL rollup (first open, max high, min
    low, last close by time; volume sums, NULL when all NULL). Complete only when no other 1-minute rows of those
    hours are stored."""
    one = frame[frame["timeframe"] == "1m"]
    times = pd.to_datetime(one["time"], utc=True)
    order = np.argsort(times.dt.tz_convert(None).to_numpy(), kind="stable")  # first/last follow time order
    one, times = one.iloc[order], times.iloc[order]
    blocks = []
    for timeframe, width in ROLLUP_WIDTHS.items():
        groups = one.assign(time=times.dt.floor(width)).groupby(["exchange", "symbol", "price_kind", "time"],
                                                                 sort=False)
        out = groups.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"))
        out["volume"] = groups["volume"].sum(min_count=1)
        out["quote_volume"] = groups["quote_volume"].sum(min_count=1)
        blocks.append(out.reset_index().assign(timeframe=timeframe))
    return pd.concat(blocks, ignore_index=True)


def _write_candles(conn: Connection, frame: pd.DataFrame) -> WriteResult:
    conflict, shared = _probe(conn, frame)
    copied = not conflict and _copy_new_candles(conn, frame)
    if copied and not shared:  # every touched hour holds only this batch's minutes: roll up here, upsert them
        rollups = _upsert_binary(conn, prices.name, _CANDLE_TYPES, candle_rollups(frame), _ROLLUP_CONFLICT)
        return WriteResult(len(frame), len(frame), rollups)
    conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS touched_hours (exchange text, symbol text, "
                      "price_kind text, bucket timestamptz) ON COMMIT DROP"))
    conn.execute(text("TRUNCATE touched_hours"))
    if copied:
        written = len(frame)
        _touch_hours(conn, frame)
    else:  # a key may be stored (or a concurrent writer stored one: COPY rolled back): upsert through staging
        written = _upsert_staged_candles(conn, frame)
    rollups = 0
    if written:
        conn.execute(text("ANALYZE touched_hours"))  # temp tables have no statistics otherwise
        rollups = conn.execute(text(_ROLLUP_SQL)).rowcount
    return WriteResult(int(written), len(frame), int(rollups))


def write_candles(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write candles (``CANDLE_COLUMNS``), ``DO NOTHING`` on an existing key, then upsert the candle rollups
    (:data:`ROLLUP_TIMEFRAMES`) of the hours that received new 1-minute rows. A batch that cannot conflict (bulk
    loads, backfill of empty ranges) is copied straight in (:func:`_copy_new_candles`, binary COPY); when, in
    addition, no stored candle shares its hours, the rollups are computed from the batch (:func:`candle_rollups`)
    instead of re-reading the hours from the hypertable. Raises SQLAlchemy/psycopg errors (batch not written)."""
    if frame.empty:
        return WriteResult(0, 0)
    return _run(bind, lambda conn: _write_candles(conn, frame))


_ROLLUP_CONFLICT = """DO UPDATE SET
  open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
  volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume, received_at = now()
WHERE (prices.open, prices.high, prices.low, prices.close, prices.volume, prices.quote_volume)
      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
                        EXCLUDED.quote_volume)"""


def _sql_interval(width: timedelta) -> str:
    """``width`` as an SQL interval literal (``'3600 seconds'``)."""
    return f"'{int(width.total_seconds())} seconds'"


#: Every rollup timeframe's candles of the hours in ``touched_hours``, from one read of their stored 1-minute rows.
_ROLLUP_SQL = f"""
WITH m AS MATERIALIZED (
    SELECT p.time, p.exchange, p.symbol, p.price_kind, p.open, p.high, p.low, p.close, p.volume, p.quote_volume
    FROM prices p
    WHERE p.timeframe = '1m'
      AND p.time >= (SELECT min(bucket) FROM touched_hours)
      AND p.time < (SELECT max(bucket) FROM touched_hours) + interval {_sql_interval(_ROLLUP_SPAN)}
      AND (p.exchange, p.symbol, p.price_kind, time_bucket({_sql_interval(_ROLLUP_SPAN)}, p.time))
          IN (SELECT exchange, symbol, price_kind, bucket FROM touched_hours))
INSERT INTO prices (time, exchange, symbol, timeframe, price_kind, open, high, low, close, volume, quote_volume)
""" + "\nUNION ALL\n".join(
    f"SELECT time_bucket({_sql_interval(width)}, time), exchange, symbol, '{timeframe}', price_kind, "
    "first(open, time), max(high), min(low), last(close, time), sum(volume), sum(quote_volume) "
    "FROM m GROUP BY 1, exchange, symbol, price_kind" for timeframe, width in ROLLUP_WIDTHS.items()
) + """
ON CONFLICT ON CONSTRAINT pk_prices """ + _ROLLUP_CONFLICT

_FUNDING_UPDATE = """DO UPDATE SET
  funding_rate = EXCLUDED.funding_rate,
  funding_interval_hours = COALESCE(EXCLUDED.funding_interval_hours, funding_rates.funding_interval_hours),
  mark_price = COALESCE(EXCLUDED.mark_price, funding_rates.mark_price),
  index_price = COALESCE(EXCLUDED.index_price, funding_rates.index_price),
  next_funding_time = COALESCE(EXCLUDED.next_funding_time, funding_rates.next_funding_time),
  received_at = now()
WHERE (funding_rates.funding_rate, funding_rates.funding_interval_hours, funding_rates.mark_price,
       funding_rates.index_price, funding_rates.next_funding_time)
  IS DISTINCT FROM (EXCLUDED.funding_rate,
       COALESCE(EXCLUDED.funding_interval_hours, funding_rates.funding_interval_hours),
       COALESCE(EXCLUDED.mark_price, funding_rates.mark_price),
       COALESCE(EXCLUDED.index_price, funding_rates.index_price),
       COALESCE(EXCLUDED.next_funding_time, funding_rates.next_funding_time))"""


#: Unit of ``touched_funding_hours``: every :data:`~db.schema.FUNDING_ROLLUPS` width divides it, so a touched
#: hour holds whole buckets of each rollup table.
_FUNDING_ROLLUP_SPAN = pd.Timedelta(max(FUNDING_ROLLUPS))


_FUNDING_ROLLUP_VALUES = ("funding_rate", "funding_rate_last", "funding_interval_hours", "mark_price", "index_price",
                          "rows")


def _funding_rollup_insert(width: timedelta, table: Table) -> str:
    """``INSERT`` into ``table`` of the buckets of ``width`` of the rows in ``touched``: mean rate, the last row's
    rate / interval / mark / index (TimescaleDB ``last``), row count; a stored row is rewritten only when a value
    changed, so ``RETURNING`` yields rollup rows inserted or changed."""
    t = table.name
    return f"""INSERT INTO {t} (time, exchange, symbol, settled, {", ".join(_FUNDING_ROLLUP_VALUES)})
SELECT time_bucket({_sql_interval(width)}, time), exchange, symbol, settled, avg(funding_rate),
       last(funding_rate, time), last(funding_interval_hours, time), last(mark_price, time),
       last(index_price, time), count(*)
FROM touched GROUP BY 1, exchange, symbol, settled
ON CONFLICT ON CONSTRAINT pk_{t} DO UPDATE SET
  {", ".join(f"{c} = EXCLUDED.{c}" for c in _FUNDING_ROLLUP_VALUES)}, updated_at = now()
WHERE ({", ".join(f"{t}.{c}" for c in _FUNDING_ROLLUP_VALUES)})
  IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _FUNDING_ROLLUP_VALUES)})
RETURNING 1"""


#: Every :data:`~db.schema.FUNDING_ROLLUPS` table's rows of the hours listed in ``touched_funding_hours``,
#: recomputed from one read of their stored ``funding_rates`` rows (``:lo``/``:hi`` bound it: plan-time chunk
#: exclusion); the result is the number of rollup rows inserted or changed over all tables.
_FUNDING_ROLLUP_SQL = f"""
WITH touched AS MATERIALIZED (
    SELECT f.time, f.exchange, f.symbol, f.settled, f.funding_rate, f.funding_interval_hours, f.mark_price,
           f.index_price
    FROM touched_funding_hours h
    JOIN funding_rates f ON f.exchange = h.exchange AND f.symbol = h.symbol AND f.settled = h.settled
     AND f.time >= h.hour AND f.time < h.hour + interval {_sql_interval(_FUNDING_ROLLUP_SPAN)}
     AND f.time >= :lo AND f.time < :hi),
""" + ",\n".join(f"up_{t.name} AS ({_funding_rollup_insert(w, t)})" for w, t in FUNDING_ROLLUPS.items()) + """
SELECT """ + " + ".join(f"(SELECT count(*) FROM up_{t.name})" for t in FUNDING_ROLLUPS.values())


def _funding_rollups(conn: Connection, frame: pd.DataFrame) -> int:
    """Upsert the :data:`~db.schema.FUNDING_ROLLUPS` rows of the hours in ``touched_funding_hours`` (see
    :data:`_FUNDING_ROLLUP_SQL`); ``frame``'s time range bounds the rows read. Returns rollup rows written."""
    times = pd.to_datetime(frame["time"], utc=True)
    bounds = {"lo": times.min().floor(_FUNDING_ROLLUP_SPAN).to_pydatetime(),
              "hi": (times.max().floor(_FUNDING_ROLLUP_SPAN) + _FUNDING_ROLLUP_SPAN).to_pydatetime()}
    conn.execute(text("ANALYZE touched_funding_hours"))  # temp tables have no statistics otherwise
    return conn.execute(text(_FUNDING_ROLLUP_SQL), bounds).scalar_one()


def write_funding(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write funding rows (``FUNDING_COLUMNS``). An existing key is updated only when a value differs (a
    settled row gaining its mark price, a corrected rate); known values are never replaced by NULL.

    Then the rollups (:data:`~db.schema.FUNDING_ROLLUPS`; bucket start = ``time_bucket(width, time)``, UTC) of every
    exchange + symbol + settled + hour that received an inserted or changed row are recomputed from the stored
    rows (:data:`_FUNDING_ROLLUP_SQL`), in the same transaction; replaying a batch writes 0 rows and 0 rollups.
    ``rollups`` of the result counts rollup rows inserted or changed, over all rollup tables. Raises
    SQLAlchemy/psycopg errors (batch not written)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS touched_funding_hours (exchange text, symbol text, "
                          "settled boolean, hour timestamptz) ON COMMIT DROP"))
        conn.execute(text("TRUNCATE touched_funding_hours"))
        stage = _stage(conn, funding_rates.name, FUNDING_COLUMNS, frame)
        sql = _insert_sql(funding_rates.name, stage, FUNDING_COLUMNS, _FUNDING_UPDATE, distinct_on=_FUNDING_KEY)
        written = conn.execute(text(
            f"WITH ins AS ({sql} RETURNING exchange, symbol, settled, time), "
            "t AS (INSERT INTO touched_funding_hours SELECT DISTINCT exchange, symbol, settled, "
            f"time_bucket({_sql_interval(_FUNDING_ROLLUP_SPAN)}, time) FROM ins RETURNING 1) "
            "SELECT (SELECT count(*) FROM ins)"
        )).scalar_one()
        rollups = _funding_rollups(conn, frame) if written else 0
        return WriteResult(int(written), len(frame), int(rollups))

    return _run(bind, work)


_ANOMALY_SERIES = ("exchange", "symbol", "metric", "method")
_ANOMALIES_STORED = text(
    "SELECT EXISTS (SELECT 1 FROM anomalies WHERE exchange = :exchange AND symbol = :symbol AND metric = :metric "
    "AND method = :method AND time BETWEEN :lo AND :hi)"
)
#: Smallest anomaly batch worth the direct COPY: it costs one range probe per series, and below this size the
#: staging ``INSERT … ON CONFLICT`` is as fast.
DIRECT_COPY_MIN_ROWS = 2_000


def _copy_new_anomalies(conn: Connection, frame: pd.DataFrame) -> bool:
    """Fast path of a large anomaly batch none of whose keys can be stored (no stored anomaly in any series'
    time range, no repeated key): one binary ``COPY`` into the hypertable in a savepoint. False (nothing
    written) when the batch is small or may conflict, or a concurrent writer stored a key meanwhile."""
    if len(frame) < DIRECT_COPY_MIN_ROWS:
        return False
    times = pd.to_datetime(frame["time"], utc=True)
    ranges = times.groupby([frame[c] for c in _ANOMALY_SERIES]).agg(["min", "max", "size", "nunique"])
    if (ranges["size"] != ranges["nunique"]).any():
        return False
    for (exchange, symbol, metric, method), (lo, hi, _, _) in ranges.iterrows():
        params = {"exchange": exchange, "symbol": symbol, "metric": metric, "method": method,
                  "lo": lo.to_pydatetime(), "hi": hi.to_pydatetime()}
        if conn.execute(_ANOMALIES_STORED, params).scalar_one():
            return False
    try:
        with conn.begin_nested():
            _copy_binary(conn, anomalies.name, _ANOMALY_TYPES, frame)
    except IntegrityError:
        return False
    return True


def write_anomalies(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write anomaly rows (``ANOMALY_COLUMNS``); the same anomaly found twice stays one row (DO NOTHING).
    Large batches that cannot conflict are copied straight in (:func:`_copy_new_anomalies`)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        if _copy_new_anomalies(conn, frame):
            return WriteResult(len(frame), len(frame))
        return WriteResult(_upsert_binary(conn, anomalies.name, _ANOMALY_TYPES, frame, "DO NOTHING"), len(frame))

    return _run(bind, work)


def write_metrics(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write system-metric samples (``METRIC_COLUMNS``; ``labels`` dicts become JSONB), DO NOTHING on a key."""
    if frame.empty:
        return WriteResult(0, 0)
    frame = frame.assign(labels=[json.dumps(v, sort_keys=True) for v in frame["labels"]])

    def work(conn: Connection) -> WriteResult:
        stage = _stage(conn, system_metrics.name, METRIC_COLUMNS, frame)
        sql = _insert_sql(system_metrics.name, stage, METRIC_COLUMNS, "DO NOTHING")
        return WriteResult(conn.execute(text(sql)).rowcount, len(frame))

    return _run(bind, work)
