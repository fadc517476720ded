"""Open-interest series, bucketed in the database (``time_bucket`` over ``open_interest`` rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import (
    align_range,
    array_columns,
    check_range,
    fetch_array_frame,
    pair_params,
    resolve_bucket,
)
from db.queries.pairs import all_pairs

_FLOATS = ("open_interest_contracts", "open_interest_base", "open_interest_value")

#: Per exchange + symbol whose open interest spans part of ``[start, end)`` in the ``pair_extents`` catalogue (the
#: first row before ``end``, the last at or after ``start``: ``db.writes.extents`` keeps both exact, so a pair
#: without rows there is not probed; the Markets page's 30 days of 5 coins on every exchange ask for 23 pairs, 6
#: with open interest: ~60 -> ~21 ms here over the bundled 1-day chunks), one LATERAL ``GROUP BY`` over its
#: primary-key range (all sources together: ``live`` snapshots, ``history`` and ``recorded`` rows describe the same
#: quantity). Each bucket carries its last row's values (TimescaleDB ``last()``): open interest is a level, so the
#: bucket's closing level, not a mean. One row per pair, each column an array in the order the bucketing gives them
#: (time; checked by :func:`~db.queries.common.fetch_array_frame`; as ``db.queries.funding``).
_OPEN_INTEREST_SQL = f"""
SELECT p.exchange, p.symbol, a.*
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
JOIN pair_extents e ON e.exchange = p.exchange AND e.symbol = p.symbol AND e.stream = 'open_interest'
                   AND e.first_time < :end AND e.last_time >= :start
CROSS JOIN LATERAL (
    SELECT {array_columns("time", *_FLOATS, "rows")}
    FROM (
        SELECT time_bucket(:width, o.time) AS time,
               last(o.open_interest_contracts, o.time) AS open_interest_contracts,
               last(o.open_interest_base, o.time) AS open_interest_base,
               last(o.open_interest_value, o.time) AS open_interest_value, count(*) AS rows
        FROM open_interest o
        WHERE o.exchange = p.exchange AND o.symbol = p.symbol AND o.time >= :start AND o.time < :end
        GROUP BY 1 ORDER BY 1) b) a
WHERE a.time IS NOT NULL
ORDER BY p.exchange, p.symbol
"""


def open_interest_series(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """Open interest in the buckets overlapping ``[start, end)`` (:func:`align_range`), bucketed with
    ``time_bucket``.

    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``open_interest_contracts`` (contracts, the
    venue's contract unit), ``open_interest_base`` (base-asset units), ``open_interest_value`` (notional, quote
    currency) — each the value of the bucket's last row (TimescaleDB ``last(value, time)``; a row of several
    sources at the same time: any of them; NaN where unknown) — and ``rows`` (rows in the bucket). Sorted by
    exchange, symbol, time. ``bucket`` defaults to :func:`choose_bucket` and must be one of
    :data:`BUCKET_WIDTHS` (``KeyError`` otherwise). Pairs are those of ``pair_extents`` matching the filters.
    Raises ``ValueError`` for a bad range."""
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    pairs = all_pairs(conn, exchanges, symbols)
    stmt = text(_OPEN_INTEREST_SQL).bindparams(**pair_params(pairs), width=width, start=start, end=end)
    frame = fetch_array_frame(conn, stmt, ["exchange", "symbol"])
    for col in _FLOATS:
        frame[col] = frame[col].astype("float64")
    frame["rows"] = frame["rows"].astype("int64")
    return frame[["time", "exchange", "symbol", *_FLOATS, "rows"]]
