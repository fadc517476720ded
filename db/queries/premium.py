"""Premium (basis) series from the mark and index prices stored with funding rows (issue 8, item 9)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import align_range, check_range, connected, fetch_frame, pair_params, resolve_bucket
from db.queries.pairs import all_pairs

#: Per exchange + symbol one LATERAL ``GROUP BY`` over its funding rows that carry both prices.
_PREMIUM_SQL = """
SELECT b.time, p.exchange, p.symbol, b.premium_bp, b.rows
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT time_bucket(:width, f.time) AS time, avg((f.mark_price - f.index_price) / f.index_price) * 1e4 AS premium_bp,
           count(*) AS rows
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled IN (false, true)
      AND f.time >= :start AND f.time < :end AND f.mark_price IS NOT NULL AND f.index_price IS NOT NULL
    GROUP BY 1 ORDER BY 1) b
ORDER BY p.exchange, p.symbol, b.time
"""


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
    ``premiumIndex``: ``markPrice`` and ``indexPrice``), from the ``mark_price`` and ``index_price`` stored on
    ``funding_rates`` rows (predicted snapshots carry both; rows lacking either are skipped; a ratio, so bundled
    contracts such as ``1000PEPE`` need no multiplier). Columns: ``time`` (bucket start, UTC), ``exchange``,
    ``symbol``, ``premium_bp`` (mean premium of the bucket's rows, basis points: × 1e4), ``rows`` (rows averaged).
    Empty buckets give no row. Sorted by exchange, symbol, time. ``bucket`` defaults to
    :func:`~db.queries.common.choose_bucket` and must be one of ``BUCKET_WIDTHS`` (``KeyError`` otherwise).
    Pairs are those of ``pair_extents`` matching the filters. Raises ``ValueError`` for a bad range."""
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    with connected(engine) as conn:
        pairs = all_pairs(conn, exchanges, symbols)
        stmt = text(_PREMIUM_SQL).bindparams(**pair_params(pairs), width=width, start=start, end=end)
        frame = fetch_frame(conn, stmt, ["time"])
    frame["premium_bp"] = frame["premium_bp"].astype("float64")
    frame["rows"] = frame["rows"].astype("int64")
    return frame
