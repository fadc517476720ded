"""Candle writes (COPY fast path or staged upsert) and the 15-minute / 1-hour candle rollups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from db.schema import prices
from db.writes.common import (
    CANDLE_COLUMNS,
    CANDLE_TYPES,
    WriteResult,
    copy_binary,
    insert_sql,
    run,
    sql_interval,
    stage_frame,
    upsert_binary,
)
from db.writes.extents import record_candle_extents

_PRICE_KEY = ("exchange", "symbol", "timeframe", "price_kind", "time")
#: Candle rollups ingest maintains from the 1-minute rows (ccxt timeframe -> bucket width), finest first. Each
#: width divides the coarsest (:data:`_ROLLUP_SPAN`, one hour), so the hours a batch touches hold whole buckets
#: of every rollup timeframe: hours are the unit of the probe and of ``touched_hours``.
ROLLUP_WIDTHS: dict[str, pd.Timedelta] = {"15m": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1)}
ROLLUP_TIMEFRAMES: tuple[str, ...] = tuple(ROLLUP_WIDTHS)
_ROLLUP_SPAN = max(ROLLUP_WIDTHS.values())


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
            copy_binary(conn, prices.name, CANDLE_TYPES, frame)
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
    copy_binary(conn, "touched_hours", {"exchange": "text", "symbol": "text", "price_kind": "text",
                                         "bucket": "timestamptz"}, hours)


#: Anomaly metrics computed from 1-minute candles (``ingest.anomaly.candle_metrics``): a corrected candle's stored
#: ones are deleted so the recomputed ones of the same batch replace them.
CANDLE_METRICS = ("log_return_1m", "log_volume_1m")

def _upsert_staged_candles(conn: Connection, frame: pd.DataFrame) -> int:
    """Slow path: staging table + ``INSERT … ON CONFLICT DO UPDATE`` of candles whose values differ
    (:data:`_CANDLE_UPDATE`: a candle stored before the exchange closed it, or revised by it); records the hours of
    the 1-minute rows inserted or corrected in ``touched_hours`` and deletes the candle anomalies
    (:data:`CANDLE_METRICS`) of corrected ones. Returns rows inserted or corrected."""
    stage = stage_frame(conn, prices.name, CANDLE_COLUMNS, frame)
    insert = insert_sql(prices.name, stage, CANDLE_COLUMNS, _CANDLE_UPDATE, distinct_on=_PRICE_KEY)
    metrics = ", ".join(f"'{m}'" for m in CANDLE_METRICS)
    return conn.execute(text(
        f"WITH ins AS ({insert} RETURNING exchange, symbol, timeframe, price_kind, time, xmax <> 0 AS corrected), "
        "t AS (INSERT INTO touched_hours SELECT DISTINCT exchange, symbol, price_kind, "
        f"time_bucket({sql_interval(_ROLLUP_SPAN)}, time) FROM ins WHERE timeframe = '1m' RETURNING 1), "
        "d AS (DELETE FROM anomalies a USING ins WHERE ins.corrected AND ins.timeframe = '1m' "
        f"AND ins.price_kind = 'last' AND a.exchange = ins.exchange AND a.symbol = ins.symbol AND a.time = ins.time "
        f"AND a.metric IN ({metrics}) RETURNING 1) "
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
        rollups = upsert_binary(conn, prices.name, CANDLE_TYPES, candle_rollups(frame), _CANDLE_UPDATE)
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
    """Write candles (``CANDLE_COLUMNS``); a stored candle with other values is corrected (the exchange's latest
    word: a candle stored before it closed), one with the same values left alone; then upsert the candle rollups
    (:data:`ROLLUP_TIMEFRAMES`) of the hours that received new 1-minute rows. A batch that cannot conflict (bulk
    loads, backfill of empty ranges) is copied straight in (:func:`_copy_new_candles`, binary COPY); when, in
    addition, no stored candle shares its hours, the rollups are computed from the batch (:func:`candle_rollups`)
    instead of re-reading the hours from the hypertable. Raises SQLAlchemy/psycopg errors (batch not written)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        result = _write_candles(conn, frame)
        record_candle_extents(conn, frame, _ROLLUP_SPAN)
        return result

    return run(bind, work)


_CANDLE_UPDATE = """DO UPDATE SET
  open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
  volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume, received_at = now()
WHERE (prices.open, prices.high, prices.low, prices.close, prices.volume, prices.quote_volume)
      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume,
                        EXCLUDED.quote_volume)"""



#: Every rollup timeframe's candles of the hours in ``touched_hours``, from one read of their stored 1-minute rows.
_ROLLUP_SQL = f"""
WITH m AS MATERIALIZED (
    SELECT p.time, p.exchange, p.symbol, p.price_kind, p.open, p.high, p.low, p.close, p.volume, p.quote_volume
    FROM prices p
    WHERE p.timeframe = '1m'
      AND p.time >= (SELECT min(bucket) FROM touched_hours)
      AND p.time < (SELECT max(bucket) FROM touched_hours) + interval {sql_interval(_ROLLUP_SPAN)}
      AND (p.exchange, p.symbol, p.price_kind, time_bucket({sql_interval(_ROLLUP_SPAN)}, p.time))
          IN (SELECT exchange, symbol, price_kind, bucket FROM touched_hours))
INSERT INTO prices (time, exchange, symbol, timeframe, price_kind, open, high, low, close, volume, quote_volume)
""" + "\nUNION ALL\n".join(
    f"SELECT time_bucket({sql_interval(width)}, time), exchange, symbol, '{timeframe}', price_kind, "
    "first(open, time), max(high), min(low), last(close, time), sum(volume), sum(quote_volume) "
    "FROM m GROUP BY 1, exchange, symbol, price_kind" for timeframe, width in ROLLUP_WIDTHS.items()
) + """
ON CONFLICT ON CONSTRAINT pk_prices """ + _CANDLE_UPDATE
