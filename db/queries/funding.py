"""Funding-rate series, bucketed in the database (raw rows or the funding rollups)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Table, select, text

from db.queries.common import (
    align_range,
    array_columns,
    check_range,
    fetch_array_frame,
    pair_params,
    resolve_bucket,
)
from db.queries.pairs import all_pairs
from db.schema import FUNDING_ROLLUPS
from db.summaries import funding_rollup_horizon


def funding_rollup_for(width: timedelta) -> tuple[timedelta, Table] | None:
    """``(rollup width, table)`` of the coarsest :data:`~db.schema.FUNDING_ROLLUPS` table whose width tiles bucket
    ``width`` (15 min -> ``funding_rates_15m``; 1 h, 4 h, 1 d, 1 w -> ``funding_rates_1h``); None for finer
    buckets (1 min, 5 min: raw rows)."""
    fits = [(w, t) for w, t in FUNDING_ROLLUPS.items() if w <= width and width % w == timedelta(0)]
    return max(fits, key=lambda fit: fit[0]) if fits else None


#: Raw funding rows of one series (``p`` = exchange + symbol, ``s`` = settled flag) bucketed: a ``GROUP BY`` over its
#: primary-key range (rows arrive in time order, so no sort of all rows: 7 days x 5 symbols of 1-minute snapshots
#: in 15-minute buckets took 27 ms instead of 59 ms as one ``GROUP BY``).
_RAW_BUCKETS_SQL = """
    SELECT time_bucket(:width, f.time) AS time, avg(f.funding_rate) AS funding_rate,
           last(f.funding_interval_hours, f.time) AS funding_interval_hours, count(*) AS rows
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled = s.settled
      AND f.time >= :start AND f.time < :end
    GROUP BY 1 ORDER BY 1"""

#: The rollup rows of one series (``{table}``, buckets of ``:table_width``) in ``[start, end)``: for predicted
#: series the stored rollup rows before ``:tail_start`` (the rollup horizon, ``db.writes.rollups``: later hours are
#: rolled up when they close; or ``start``) and the same aggregate of the raw rows from it on (an hour or so of
#: rows per pair; a bound parameter, so the planner excludes the chunks before it).
_ROLLUP_SOURCE_SQL = """
    SELECT r.time, r.funding_rate, r.funding_interval_hours, r.rows
    FROM {table} r
    WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND r.settled = s.settled
      AND r.time >= :start AND r.time < :end AND (s.settled OR r.time < :tail_start)
    UNION ALL
    SELECT time_bucket(:table_width, f.time), avg(f.funding_rate), last(f.funding_interval_hours, f.time), count(*)
    FROM funding_rates f
    WHERE NOT s.settled AND f.exchange = p.exchange AND f.symbol = p.symbol AND NOT f.settled
      AND f.time >= :tail_start AND f.time < :end
    GROUP BY 1"""

#: Rows of one series of a funding rollup whose rows are the buckets (15-minute buckets from ``funding_rates_15m``,
#: hourly ones from ``funding_rates_1h``).
_ROLLUP_ROWS_SQL = """
    SELECT r.time, r.funding_rate, r.funding_interval_hours, r.rows FROM ({source}) r ORDER BY r.time"""

#: Rollup rows of one series aggregated into wider buckets: mean = ``sum(mean × rows) / sum(rows)`` (the mean of the
#: bucket's raw rows; sums in time order), interval of the last rollup row's last row, rows summed.
_ROLLUP_BUCKETS_SQL = """
    SELECT time_bucket(:width, r.time) AS time,
           sum(r.funding_rate * r.rows ORDER BY r.time) / sum(r.rows ORDER BY r.time) AS funding_rate,
           last(r.funding_interval_hours, r.time) AS funding_interval_hours, sum(r.rows ORDER BY r.time) AS rows
    FROM ({source}) r
    GROUP BY 1 ORDER BY 1"""

#: Every series of ``:exchanges`` x ``:symbols`` x settled flag in one statement: a pair with a row of the rollup
#: ``{table}`` in ``[start, end)`` is read from the rollup (``{rollup}``, raw rows from the horizon on), any other
#: from raw rows; the branch not taken is skipped at run time (one-time filter). One round trip instead of a rollup
#: read and a raw read, each planned over the range's chunks.
_FUNDING_SERIES_SQL = """
SELECT p.exchange, p.symbol, s.settled, a.*
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT EXISTS (SELECT 1 FROM {table} r WHERE r.exchange = p.exchange AND r.symbol = p.symbol
                     AND r.time >= :start AND r.time < :end) AS rolled) h
CROSS JOIN (VALUES (false), (true)) AS s(settled)
CROSS JOIN LATERAL (
    SELECT {arrays} FROM (
        (SELECT * FROM ({rollup}) x WHERE h.rolled)
        UNION ALL
        (SELECT * FROM ({raw}) y WHERE NOT h.rolled)) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol, s.settled
"""

#: One row per series: each column of its buckets as an array, aggregated in the order the branch gives them (time;
#: :func:`~db.queries.common.fetch_array_frame` checks it), not by an ``ORDER BY`` in each ``array_agg`` (a sort per
#: column, as for the candles: ``db.queries.prices``).
_ARRAYS = array_columns("time", "funding_rate", "funding_interval_hours", "rows")

#: Raw funding rows bucketed per exchange + symbol + settled flag (buckets finer than every rollup).
_FUNDING_RAW_SQL = f"""
SELECT p.exchange, p.symbol, s.settled, a.*
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN (VALUES (false), (true)) AS s(settled)
CROSS JOIN LATERAL (SELECT {_ARRAYS} FROM ({_RAW_BUCKETS_SQL}) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol, s.settled
"""


def rollup_horizon(conn: Connection) -> datetime | None:
    """The funding rollups' horizon for predicted rows (``funding_rollup_horizon``, ``db.writes.rollups``: UTC; rows
    before it are in the rollups, rows from it on not yet), None when none is stored (none rolled up)."""
    return conn.execute(select(funding_rollup_horizon.c.predicted_until)).scalar()


def _funding_stmt(conn: Connection, pairs: Sequence[tuple[str, str]], start, end, width: timedelta):
    """The statement of :func:`funding_series`: :data:`_FUNDING_SERIES_SQL` over the coarsest rollup tiling
    ``width`` (:func:`funding_rollup_for`; its rows as they are when they are the buckets; predicted rows from the
    :func:`rollup_horizon` on from raw rows), else :data:`_FUNDING_RAW_SQL`."""
    rollup = funding_rollup_for(width)
    if rollup is None:
        return text(_FUNDING_RAW_SQL).bindparams(**pair_params(pairs), width=width, start=start, end=end)
    table_width, table = rollup
    read = _ROLLUP_ROWS_SQL if width == table_width else _ROLLUP_BUCKETS_SQL
    source = _ROLLUP_SOURCE_SQL.format(table=table.name)
    sql = _FUNDING_SERIES_SQL.format(table=table.name, rollup=read.format(source=source), raw=_RAW_BUCKETS_SQL,
                                     arrays=_ARRAYS)
    horizon = rollup_horizon(conn)
    tail_start = start if horizon is None else max(start, horizon)
    return text(sql).bindparams(**pair_params(pairs), width=width, table_width=table_width, start=start, end=end,
                                tail_start=tail_start)


def funding_series(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """Funding rates in the buckets overlapping ``[start, end)`` (:func:`align_range`), bucketed with ``time_bucket``.

    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``settled`` (bool: True = rates settled at
    funding times, False = current/predicted snapshots; kept apart, never averaged together),
    ``funding_rate`` (mean of the bucket's rows, fraction per funding interval), ``funding_interval_hours``
    (of the bucket's last row, TimescaleDB ``last()``; NaN if unknown), ``rows`` (rows in the bucket).
    Sorted by exchange, symbol, settled, time. ``bucket`` defaults to :func:`choose_bucket`; it must be one
    of :data:`BUCKET_WIDTHS` (``KeyError`` otherwise). Raises ``ValueError`` for a bad range.

    Source: 15-minute buckets are the rows of ``funding_rates_15m``, buckets of 1 hour and more are aggregated
    from ``funding_rates_1h`` (rollups ingest maintains, :data:`~db.schema.FUNDING_ROLLUPS`; same values as from
    the raw rows: a rollup row keeps its bucket's mean and row count), the hours of predicted rows not yet rolled
    up (from the rollup horizon on, ``db.writes.rollups``) from their raw rows alike; raw ``funding_rates`` rows are
    read for finer buckets and for pairs with no rollup row in the range.
    """
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    pairs = all_pairs(conn, exchanges, symbols)
    frame = fetch_array_frame(conn, _funding_stmt(conn, pairs, start, end, width), ["exchange", "symbol", "settled"])
    for col in ("funding_rate", "funding_interval_hours"):
        frame[col] = frame[col].astype("float64")
    frame["settled"] = frame["settled"].astype("bool")
    frame["rows"] = frame["rows"].astype("int64")
    return frame[["time", "exchange", "symbol", "settled", "funding_rate", "funding_interval_hours", "rows"]]
