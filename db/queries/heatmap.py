"""Funding heatmap: coins × time buckets of annualised settled funding, one venue or several averaged (issue 8,
item 7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import align_range, bucket_name, check_range, connected, fetch_frame
from db.queries.markets import HOURS_PER_YEAR
from db.queries.newest import newest_notional_sql
from db.queries.pairs import funding_pairs
from db.summaries import SETTLED_ROLLUPS

#: Per pair (with its ``coin`` and open-interest ``weight``), its settled rows bucketed: mean annualised rate (each
#: row with its own interval: rate × 8,760 / interval hours) and rows averaged. ``{source}``: from a settled rollup
#: of :mod:`db.summaries` (sums of whole periods: exact for buckets those periods tile) or from raw rows.
_CELLS_SQL = """
WITH w AS MATERIALIZED (
    SELECT p.ord, p.exchange, p.symbol, p.coin, {newest} AS weight
    FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[]), CAST(:coins AS text[])) WITH ORDINALITY
         AS p(exchange, symbol, coin, ord)
    LEFT JOIN open_interest_newest o ON o.exchange = p.exchange AND o.symbol = p.symbol)
SELECT p.ord, p.coin, p.weight, b.time, b.annualised, b.settlements
FROM w AS p CROSS JOIN LATERAL ({source}) b
"""
_ROLLUP_SOURCE = """
    SELECT time_bucket(:width, r.time) AS time, sum(r.annualised_sum) / sum(r.annualised_rows) AS annualised,
           sum(r.annualised_rows) AS settlements
    FROM {table} r WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND r.time >= :start AND r.time < :end
      AND r.annualised_rows > 0
    GROUP BY 1"""
_RAW_SOURCE = """
    SELECT time_bucket(:width, f.time) AS time, avg(f.funding_rate * :year / f.funding_interval_hours) AS annualised,
           count(*) AS settlements
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled AND f.funding_interval_hours IS NOT NULL
      AND f.time >= :start AND f.time < :end
    GROUP BY 1"""
#: The venues of each coin + bucket averaged, weighted by open interest when every venue has a positive weight.
_COINS_SQL = """
WITH c AS ({cells})
SELECT coin, time, CASE WHEN bool_and(COALESCE(weight > 0, false)) THEN sum(annualised * weight) / sum(weight)
                        ELSE avg(annualised) END AS annualised,
       count(*) AS venues, bool_and(COALESCE(weight > 0, false)) AS weighted
FROM c GROUP BY coin, time ORDER BY coin COLLATE "C", time
"""


#: The weight of a pair: its newest open-interest notional in ``[start, end)``.
_NEWEST = newest_notional_sql("time >= :start", "time < :end", "time >= :end")


def _cells_sql(bucket: timedelta) -> str:
    """:data:`_CELLS_SQL` from the coarsest settled rollup whose period divides ``bucket``, else raw rows."""
    fits = [table for period, table in SETTLED_ROLLUPS.items() if bucket % period == timedelta(0)]
    source = _ROLLUP_SOURCE.format(table=fits[-1].name) if fits else _RAW_SOURCE
    return _CELLS_SQL.format(source=source, newest=_NEWEST)


def _statement(conn: Connection, sql: str, exchange: str | None, coins: Sequence[str] | None, start: datetime,
               end: datetime, bucket: timedelta) -> tuple:
    """``(pairs, statement)``: the pairs with funding in ``[start, end)`` (already aligned) and ``sql`` bound to
    them and their coins."""
    pairs = funding_pairs(conn, None if exchange is None else [exchange], coins)
    pairs = pairs[(pairs["first_time"] < end) & (pairs["last_time"] >= start)].reset_index(drop=True)
    stmt = text(sql).bindparams(exchanges=pairs["exchange"].tolist(), symbols=pairs["symbol"].tolist(),
                                coins=pairs["coin"].tolist(), width=bucket, start=start, end=end,
                                **({"year": HOURS_PER_YEAR} if ":year" in sql else {}))  # fmt: skip
    return pairs, stmt


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
        pairs, stmt = _statement(conn, _cells_sql(bucket), exchange, coins, start, end, bucket)
        raw = fetch_frame(conn, stmt, ["time"])
    out = pairs[["coin", "exchange", "symbol"]].iloc[raw["ord"].to_numpy(dtype="int64") - 1].reset_index(drop=True)
    out["time"] = raw["time"].array
    out["annualised"] = raw["annualised"].to_numpy(dtype="float64", na_value=np.nan)
    out["open_interest_value"] = raw["weight"].to_numpy(dtype="float64", na_value=np.nan)
    out["settlements"] = raw["settlements"].to_numpy(dtype="int64")
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
    without open interest data would else vanish from the average). Buckets and the average over venues are
    made in the database (``time_bucket`` over the settled rollups). Sorted by coin, time. Raises as
    :func:`heatmap_venue_values`."""
    check_range(start, end)
    bucket_name(bucket)
    start, end = align_range(start, end, bucket)
    with connected(engine) as conn:
        _, stmt = _statement(conn, _COINS_SQL.format(cells=_cells_sql(bucket)), exchange, coins, start, end, bucket)
        out = fetch_frame(conn, stmt, ["time"])
    if out.empty:
        return pd.DataFrame({"coin": pd.Series(dtype=object), "time": pd.Series(dtype="datetime64[us, UTC]"),
                             "annualised": pd.Series(dtype="float64"), "venues": pd.Series(dtype="int64"),
                             "weighted": pd.Series(dtype=bool)})  # fmt: skip
    out["annualised"] = out["annualised"].astype("float64")
    out["venues"] = out["venues"].astype("int64")
    out["weighted"] = out["weighted"].astype(bool)
    return out[HEATMAP_COLUMNS]
