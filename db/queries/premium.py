"""Premium (basis) series from the mark and index prices stored with funding rows (issue 8, item 9)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import (
    align_range,
    array_columns,
    check_range,
    connected,
    fetch_array_frame,
    pair_params,
    resolve_bucket,
)
from db.queries.funding import funding_rollup_for, rollup_horizon
from db.queries.pairs import all_pairs
from db.summaries import PREMIUM_SQL

#: Per exchange + symbol one LATERAL ``GROUP BY`` over its funding rows that carry both prices (buckets finer than
#: every funding rollup).
_PREMIUM_RAW_SQL = f"""
SELECT p.exchange, p.symbol, a.*
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (SELECT {{arrays}} FROM (
    SELECT time_bucket(:width, f.time) AS time, avg({PREMIUM_SQL}) * 1e4 AS premium_bp, count(*) AS rows
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled IN (false, true)
      AND f.time >= :start AND f.time < :end AND f.mark_price IS NOT NULL AND f.index_price IS NOT NULL
    GROUP BY 1 ORDER BY 1) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol
"""

#: Per exchange + symbol its rollup rows (``{table}``, buckets of ``:table_width``; settled ones, predicted ones
#: before ``:tail_start``, the rollup horizon) with premium rows, and the same aggregate of its predicted raw rows from
#: the horizon on (not rolled up yet, ``db.writes.rollups``); both flags' rows of a bucket weighted by their counts.
#: ``{order}``: sums in time order where a bucket holds several rollup periods; where the bucket is the rollup's own
#: period it holds at most two rows (settled, predicted), whose sum is the same in either order, and an ordered
#: aggregate (a sort per bucket) cost ~1 ms per pair for 720 hourly buckets.
_PREMIUM_ROLLUP_SQL = f"""
SELECT p.exchange, p.symbol, a.*
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (SELECT {{arrays}} FROM (
    SELECT time_bucket(:width, r.time) AS time,
           sum(r.premium * r.premium_rows{{order}}) / sum(r.premium_rows) * 1e4 AS premium_bp,
           sum(r.premium_rows) AS rows
    FROM (SELECT r.time, r.settled, r.premium, r.premium_rows
          FROM {{table}} r
          WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND r.time >= :start AND r.time < :end
            AND r.premium_rows > 0 AND (r.settled OR r.time < :tail_start)
          UNION ALL
          SELECT time_bucket(:table_width, f.time), false, avg({PREMIUM_SQL}), count(*)
          FROM funding_rates f
          WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND NOT f.settled
            AND f.time >= :tail_start AND f.time < :end AND f.mark_price IS NOT NULL AND f.index_price IS NOT NULL
          GROUP BY 1) r
    GROUP BY 1 ORDER BY 1) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol
"""

#: One row per pair, each column of its buckets an array in the order the bucketing gives them (time; checked by
#: :func:`~db.queries.common.fetch_array_frame`; as ``db.queries.funding``).
_ARRAYS = array_columns("time", "premium_bp", "rows")


def _premium_stmt(conn: Connection, pairs, start: datetime, end: datetime, width: timedelta):
    """The statement of :func:`premium_series`: from the coarsest funding rollup tiling ``width``
    (:func:`~db.queries.funding.funding_rollup_for`, predicted rows from the rollup horizon on raw), else raw rows."""
    rollup = funding_rollup_for(width)
    if rollup is None:
        return text(_PREMIUM_RAW_SQL.format(arrays=_ARRAYS)).bindparams(**pair_params(pairs), width=width,
                                                                       start=start, end=end)
    table_width, table = rollup
    horizon = rollup_horizon(conn)
    tail_start = start if horizon is None else max(start, horizon)
    order = "" if width == table_width else " ORDER BY r.time, r.settled"
    return text(_PREMIUM_ROLLUP_SQL.format(table=table.name, order=order, arrays=_ARRAYS)).bindparams(
        **pair_params(pairs), width=width, table_width=table_width, start=start, end=end, tail_start=tail_start)


def premium_series(
    engine: Engine | Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """Premium (basis) of each exchange + symbol in the buckets overlapping ``[start, end)`` (aware UTC, widened to
    whole buckets by :func:`~db.queries.common.align_range`), bucketed in the database with ``time_bucket``.

    Premium = (mark − index) / index (the venues' own definition of the premium behind funding, e.g. Binance
    ``premiumIndex``: ``markPrice`` and ``indexPrice``; :data:`~db.summaries.PREMIUM_SQL`), from the ``mark_price``
    and ``index_price`` stored on ``funding_rates`` rows (predicted snapshots carry both; rows lacking either are
    skipped; a ratio, so bundled contracts such as ``1000PEPE`` need no multiplier). Buckets of 15 minutes and more
    come from the funding rollups' ``premium`` / ``premium_rows`` (the same mean: a rollup row keeps its rows' mean
    and count; the predicted rows from the rollup horizon on from raw rows alike), finer ones from raw rows.
    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``premium_bp`` (mean premium of the bucket's
    rows, basis points: × 1e4), ``rows`` (rows averaged). Empty buckets give no row. Sorted by exchange, symbol,
    time. ``bucket`` defaults to :func:`~db.queries.common.choose_bucket` and must be one of ``BUCKET_WIDTHS``
    (``KeyError`` otherwise). Pairs are those of ``pair_extents`` matching the filters. Raises ``ValueError`` for a
    bad range."""
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    with connected(engine) as conn:
        pairs = all_pairs(conn, exchanges, symbols)
        frame = fetch_array_frame(conn, _premium_stmt(conn, pairs, start, end, width), ["exchange", "symbol"])
    frame["premium_bp"] = frame["premium_bp"].astype("float64")
    frame["rows"] = frame["rows"].astype("int64")
    return frame[["time", "exchange", "symbol", "premium_bp", "rows"]]
