"""Funding heatmap: coins × time buckets of annualised settled funding, one venue or several averaged (issue 8,
item 7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import align_range, bucket_name, check_range, connected, fetch_frame
from db.queries.markets import HOURS_PER_YEAR, newest_notional_sql
from db.queries.pairs import funding_pairs, join_pairs

#: Per pair: its weight, the newest open-interest notional in the window over the three sources (once per pair,
#: :func:`~db.queries.markets.newest_notional_sql`), and its settled rows bucketed with ``time_bucket`` (mean
#: annualised rate, each row with its own interval).
_CELLS_SQL = """
WITH w AS MATERIALIZED (
    SELECT p.exchange, p.symbol, {newest} AS open_interest_value
    FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
    LEFT JOIN pair_extents e ON e.exchange = p.exchange AND e.symbol = p.symbol AND e.stream = 'open_interest')
SELECT w.exchange, w.symbol, b.time, b.annualised, b.settlements, w.open_interest_value
FROM w CROSS JOIN LATERAL (
    SELECT time_bucket(:width, f.time) AS time, avg(f.funding_rate * :year / f.funding_interval_hours) AS annualised,
           count(*) AS settlements
    FROM funding_rates f
    WHERE f.exchange = w.exchange AND f.symbol = w.symbol AND f.settled AND f.funding_interval_hours IS NOT NULL
      AND f.time >= :start AND f.time < :end
    GROUP BY 1) b
""".format(newest=newest_notional_sql("time >= :start", "time < :end"))

VENUE_COLUMNS = ["coin", "time", "exchange", "symbol", "annualised", "settlements", "open_interest_value"]
HEATMAP_COLUMNS = ["coin", "time", "annualised", "venues", "weighted"]


def heatmap_venue_values(
    engine: Engine | Connection,
    exchange: str | None,
    coins: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> pd.DataFrame:
    """The per-venue values behind :func:`funding_heatmap` (same arguments): one row per coin + bucket + exchange +
    symbol with settlements in it.

    Columns: ``coin``, ``time`` (bucket start, UTC; ``time_bucket`` of the settlement times, range widened to
    whole buckets by :func:`~db.queries.common.align_range`), ``exchange``, ``symbol``, ``annualised`` (mean of
    the bucket's settled rates annualised with each row's own interval: rate × 8,760 / interval hours, a
    fraction per year), ``settlements`` (rows averaged), ``open_interest_value`` (the pair's newest quote
    notional in the range, its weight; NaN if none). Sorted by coin, time, exchange, symbol. Raises
    ``ValueError`` for a bad range and ``KeyError`` for a bucket width not in ``BUCKET_WIDTHS``."""
    check_range(start, end)
    bucket_name(bucket)
    start, end = align_range(start, end, bucket)
    with connected(engine) as conn:
        pairs = funding_pairs(conn, None if exchange is None else [exchange], coins)
        pairs = pairs[(pairs["first_time"] < end) & (pairs["last_time"] >= start)]
        stmt = text(_CELLS_SQL).bindparams(exchanges=pairs["exchange"].tolist(), symbols=pairs["symbol"].tolist(),
                                           width=bucket, start=start, end=end, year=HOURS_PER_YEAR)  # fmt: skip
        raw = fetch_frame(conn, stmt, ["time"])
    out = join_pairs(pairs, raw)
    for col in ("annualised", "open_interest_value"):
        out[col] = out[col].astype("float64")
    out["settlements"] = out["settlements"].astype("int64")
    return out[VENUE_COLUMNS].sort_values(["coin", "time", "exchange", "symbol"], ignore_index=True)


def funding_heatmap(
    engine: Engine | Connection,
    exchange: str | None,
    coins: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> pd.DataFrame:
    """Coins × time buckets of annualised settled funding in long format, for one ``exchange`` (ccxt id) or, when
    None, every venue averaged; ``coins`` are coin names (:func:`db.coins.coin_of`; None = all), ``[start, end)``
    aware UTC, ``bucket`` a width of ``BUCKET_WIDTHS``.

    Columns: ``coin``, ``time`` (bucket start, UTC), ``annualised`` (fraction per year), ``venues`` (exchange +
    symbol pairs averaged), ``weighted`` (bool: the average is weighted by open interest). A cell's value is the
    mean of its venues' :func:`heatmap_venue_values` weighted by each venue's open-interest notional
    (newest in the range) when every venue of the cell has one; otherwise the venues count equally (a venue
    without open interest data would else vanish from the average). Buckets are made in the database
    (``time_bucket``); the average over venues in pandas. Sorted by coin, time. Raises as
    :func:`heatmap_venue_values`."""
    cells = heatmap_venue_values(engine, exchange, coins, start, end, bucket)
    if cells.empty:
        return pd.DataFrame({"coin": pd.Series(dtype=object), "time": pd.Series(dtype="datetime64[us, UTC]"),
                             "annualised": pd.Series(dtype="float64"), "venues": pd.Series(dtype="int64"),
                             "weighted": pd.Series(dtype=bool)})  # fmt: skip
    weight = cells["open_interest_value"]
    cells = cells.assign(product=cells["annualised"] * weight, has_weight=weight.notna() & (weight > 0))
    grouped = cells.groupby(["coin", "time"], sort=True)
    out = grouped.agg(mean=("annualised", "mean"), venues=("annualised", "size"), product=("product", "sum"),
                      weight=("open_interest_value", "sum"), weighted=("has_weight", "all")).reset_index()
    out["annualised"] = np.where(out["weighted"], out["product"] / out["weight"].where(out["weighted"], 1.0),
                                 out["mean"])  # fmt: skip
    out["venues"] = out["venues"].astype("int64")
    return out[HEATMAP_COLUMNS]
