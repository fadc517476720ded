"""Price (OHLCV) series of last-price candles, bucketed in the database (1-minute rows or rollups)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import (
    CANDLE_TIMEFRAMES,
    align_range,
    array_columns,
    bucket_name,
    check_range,
    fetch_array_frame,
    pair_params,
    resolve_bucket,
)
from db.queries.pairs import all_pairs


def _source_timeframes(width: timedelta) -> list[str]:
    """Candle timeframes to read for buckets of ``width``, in order of preference: those that tile ``width``
    exactly, coarsest first (1h buckets read 1h rollups before 15m and 1m rows; 15m buckets read 15m rollups before
    1m rows), then the coarser ones, finest first (a pair recorded only in 1-hour candles: one candle per 15-minute
    bucket at its open time)."""
    tiling = [name for name, tf in reversed(CANDLE_TIMEFRAMES.items()) if tf <= width and width % tf == timedelta(0)]
    return tiling + [name for name, tf in CANDLE_TIMEFRAMES.items() if tf > width]


#: Per exchange + symbol, the first of ``:timeframes`` (:func:`_source_timeframes`) holding a last-price candle in
#: ``[start, end)`` (primary-key probes), then its candles of that timeframe over their primary-key range (no sort of
#: all rows): as stored when a candle is one bucket, else bucketed by one ``GROUP BY`` (volume summed in time
#: order); the branch not taken is skipped at run time. One statement and one round trip for every pair and
#: timeframe: 30 d of 15 pairs (8 with candles) in 1-hour buckets took ~20 ms instead of ~40 ms as one statement
#: per timeframe (each planned over the range's chunks again). One row per pair with candles, each column an array
#: (:func:`~db.queries.common.fetch_array_frame`: no Python object per value). The arrays are aggregated from the
#: ordered branch as it comes (an ``ORDER BY`` in each ``array_agg`` sorted each column again: 4 -> 13 ms of
#: execution for 24 h of 5 pairs); ``fetch_array_frame`` checks each series' time order and sorts one that is not.
_PRICE_SERIES_SQL = f"""
SELECT p.exchange, p.symbol, tf.name AS source_timeframe, a.time, a.open, a.high, a.low, a.close, a.volume
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT t.name FROM unnest(CAST(:timeframes AS text[])) WITH ORDINALITY AS t(name, n)
    WHERE EXISTS (SELECT 1 FROM prices c WHERE c.exchange = p.exchange AND c.symbol = p.symbol
                    AND c.timeframe = t.name AND c.price_kind = 'last' AND c.time >= :start AND c.time < :end)
    ORDER BY t.n LIMIT 1) tf
CROSS JOIN LATERAL (
    SELECT {array_columns("time", "open", "high", "low", "close", "volume")}
    FROM ((SELECT c.time, c.open, c.high, c.low, c.close, c.volume
           FROM prices c
           WHERE tf.name = :bucket_name AND c.exchange = p.exchange AND c.symbol = p.symbol
             AND c.timeframe = tf.name AND c.price_kind = 'last' AND c.time >= :start AND c.time < :end
           ORDER BY c.time)
          UNION ALL
          (SELECT time_bucket(:width, c.time) AS time, first(c.open, c.time) AS open, max(c.high) AS high,
                  min(c.low) AS low, last(c.close, c.time) AS close, sum(c.volume ORDER BY c.time) AS volume
           FROM prices c
           WHERE tf.name <> :bucket_name AND c.exchange = p.exchange AND c.symbol = p.symbol
             AND c.timeframe = tf.name AND c.price_kind = 'last' AND c.time >= :start AND c.time < :end
           GROUP BY 1 ORDER BY 1)) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol
"""


def price_series(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """OHLCV of last-price candles (by open time) in the buckets overlapping ``[start, end)`` (:func:`align_range`),
    bucketed with ``time_bucket``.

    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``open`` (first open, TimescaleDB
    ``first()``), ``high`` (max), ``low`` (min), ``close`` (``last()`` close) in quote currency, ``volume``
    (sum, base-asset units), ``source_timeframe`` (candle timeframe read). Sorted by exchange, symbol, time.

    Source: for each exchange + symbol the coarsest stored timeframe that tiles the bucket, e.g. 1-hour rollups
    for buckets of whole hours, 15-minute rollups for 15-minute buckets (ingest maintains both), else 1-minute
    candles; finer timeframes are read only for pairs that have none of the coarser one in the range. A pair with
    none of those in the range (e.g. recorded only in 1-hour candles) gets its finest coarser candles, one per
    bucket at the candle's open time (``source_timeframe`` says which). Empty buckets yield no row (gaps stay
    gaps).
    Raises ``ValueError`` for a bad range, ``KeyError`` for a bucket outside :data:`BUCKET_WIDTHS`.
    """
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    pairs = all_pairs(conn, exchanges, symbols)
    stmt = text(_PRICE_SERIES_SQL).bindparams(**pair_params(pairs), timeframes=_source_timeframes(width),
                                              bucket_name=bucket_name(width), width=width, start=start, end=end)
    columns = ["time", "exchange", "symbol", "open", "high", "low", "close", "volume", "source_timeframe"]
    frame = fetch_array_frame(conn, stmt, ["exchange", "symbol", "source_timeframe"]) if pairs else pd.DataFrame()
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "time" else object) for c in columns})
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = frame[col].astype("float64")
    return frame[columns]
