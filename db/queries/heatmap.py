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
from db.queries.pairs import FUNDING_SELECTION_SQL, selection_params, with_coins
from db.summaries import SETTLED_ROLLUPS

#: Per pair of the selection (``FUNDING_SELECTION_SQL``: the catalogue read in the statement) its exchange, symbol,
#: open-interest ``weight`` and its settled rows bucketed, as arrays (bucket start in epoch seconds, mean annualised
#: rate: each row with its own interval, rate × 8,760 / interval hours; rows averaged): a few hundred rows to decode
#: instead of tens of thousands of cells. The arrays are not ordered in SQL (an ``ORDER BY`` per aggregate sorts
#: each array again: +50 % query time); numpy sorts. ``{source}``: a settled rollup of :mod:`db.summaries` (sums of
#: whole periods: exact for buckets those periods tile) or raw rows. ``{settlements}``: the settlements array, or
#: nothing when the caller needs no counts (the averaged heatmap: a third fewer values to aggregate and decode).
_CELLS_SQL = f"""
WITH w AS MATERIALIZED (
    SELECT p.exchange, p.symbol, {{newest}} AS weight FROM ({FUNDING_SELECTION_SQL}) p
    LEFT JOIN open_interest_newest o ON o.exchange = p.exchange AND o.symbol = p.symbol)
SELECT p.exchange, p.symbol, p.weight, b.*
FROM w AS p CROSS JOIN LATERAL (
    SELECT array_agg(CAST(date_part('epoch', x.time) AS bigint)) AS times, array_agg(x.annualised) AS annualised
           {{settlements}}
    FROM ({{source}}) x) b
WHERE b.times IS NOT NULL
"""
_ROLLUP_SOURCE = """
    SELECT time_bucket(:width, r.time) AS time, sum(r.annualised_sum) / sum(r.annualised_rows) AS annualised,
           sum(r.annualised_rows) AS settlements
    FROM {table} r WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND r.time >= :start AND r.time < :end
      AND r.annualised_rows > 0
    GROUP BY 1"""
#: A rollup whose period is the bucket: its rows are the cells.
_PERIOD_SOURCE = """
    SELECT r.time, r.annualised_sum / r.annualised_rows AS annualised, r.annualised_rows AS settlements
    FROM {table} r WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND r.time >= :start AND r.time < :end
      AND r.annualised_rows > 0"""
_RAW_SOURCE = """
    SELECT time_bucket(:width, f.time) AS time, avg(f.funding_rate * :year / f.funding_interval_hours) AS annualised,
           count(*) AS settlements
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled AND f.funding_interval_hours IS NOT NULL
      AND f.time >= :start AND f.time < :end
    GROUP BY 1"""
#: The weight of a pair: its newest open-interest notional in ``[start, end)``.
_NEWEST = newest_notional_sql("time >= :start", "time < :end", "time >= :end")


def _source(bucket: timedelta) -> str:
    """The cells' source for ``bucket``: the settled rollup of that period (one row per cell), else the coarsest
    whose period divides it (rows summed per bucket), else raw rows."""
    fits = [(period, table) for period, table in SETTLED_ROLLUPS.items() if bucket % period == timedelta(0)]
    if not fits:
        return _RAW_SOURCE
    period, table = fits[-1]
    return (_PERIOD_SOURCE if period == bucket else _ROLLUP_SOURCE).format(table=table.name)


def _cells(conn: Connection, exchange: str | None, coins: Sequence[str] | None, start: datetime, end: datetime,
           bucket: timedelta, counts: bool = True) -> pd.DataFrame:
    """One row per pair + bucket with settlements in ``[start, end)`` (already aligned), in pairs order (coin,
    exchange, symbol) then time: ``coin``, ``exchange``, ``symbol``, ``time`` (UTC), ``annualised``,
    ``settlements`` (only when ``counts``), ``open_interest_value`` (the pair's weight; NaN if none). Source:
    :func:`_source`."""
    extra = ", array_agg(x.settlements) AS settlements" if counts else ""
    sql = _CELLS_SQL.format(source=_source(bucket), newest=_NEWEST, settlements=extra)
    optional = {"width": bucket, "year": HOURS_PER_YEAR}
    params = {**selection_params(conn, None if exchange is None else [exchange], coins), "start": start, "end": end}
    stmt = text(sql).bindparams(**params, **{k: v for k, v in optional.items() if f":{k}" in sql})
    rows = fetch_frame(conn, stmt, numpy_arrays=True)
    pairs = with_coins(rows[["exchange", "symbol"]].astype("str").assign(row=np.arange(len(rows))), None)
    by_rank = pairs["row"].to_numpy()  # the rows in coin, exchange, symbol order
    rank = np.empty(len(rows), dtype="int64")
    rank[by_rank] = np.arange(len(rows))
    sizes = np.array([len(t) for t in rows["times"]], dtype="int64")
    at = np.repeat(rank, sizes)

    def flat(column: str, dtype: str) -> np.ndarray:
        parts = list(rows[column])
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)

    times = flat("times", "int64")
    order = np.lexsort((times, at))  # pairs order, then time
    out = pairs[["coin", "exchange", "symbol"]].iloc[at[order]].reset_index(drop=True)
    out["time"] = pd.to_datetime(times[order], unit="s", utc=True)
    out["annualised"] = flat("annualised", "float64")[order]
    if counts:
        out["settlements"] = flat("settlements", "int64")[order]
    out["open_interest_value"] = rows["weight"].to_numpy(dtype="float64", na_value=np.nan)[by_rank][at[order]]
    return out


VENUE_COLUMNS = ["coin", "time", "exchange", "symbol", "annualised", "settlements", "open_interest_value"]


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
        out = _cells(conn, exchange, coins, start, end, bucket)
    return out[VENUE_COLUMNS].sort_values(["coin", "time", "exchange", "symbol"], ignore_index=True)


def _one_pair_per_coin(cells: pd.DataFrame) -> bool:
    """True when each coin of ``cells`` (in pairs order) has the cells of one exchange + symbol only."""
    def starts(column: str) -> np.ndarray:
        values = cells[column].to_numpy(dtype=object)
        return values[1:] != values[:-1]

    pair_starts = starts("exchange") | starts("symbol")
    return bool((starts("coin") == pair_starts).all())


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
    (``time_bucket`` over the settled rollups), the average over venues in numpy. Sorted by coin, time. Raises as
    :func:`heatmap_venue_values`."""
    check_range(start, end)
    bucket_name(bucket)
    start, end = align_range(start, end, bucket)
    with connected(engine) as conn:
        cells = _cells(conn, exchange, coins, start, end, bucket, counts=False)
    weight = cells["open_interest_value"]
    has_weight = (weight > 0).to_numpy()  # NaN: False
    if _one_pair_per_coin(cells):  # e.g. one exchange: the cells themselves, already in coin, time order
        return pd.DataFrame({"coin": cells["coin"], "time": cells["time"], "annualised": cells["annualised"],
                             "venues": np.ones(len(cells), dtype="int64"), "weighted": has_weight})  # fmt: skip
    return _average(cells, has_weight)


def _average(cells: pd.DataFrame, has_weight: np.ndarray) -> pd.DataFrame:
    """The cells of :func:`_cells` averaged per coin + time (:func:`funding_heatmap`), sorted by coin, time: group
    sums by ``np.bincount`` over the sorted coin × time keys (a pandas ``groupby`` of five aggregates took 4× as
    long on 47,000 cells)."""
    coin_at, coins = pd.factorize(cells["coin"], sort=True)
    time_at, times = pd.factorize(cells["time"], sort=True)
    keys, group = np.unique(coin_at.astype("int64") * len(times) + time_at, return_inverse=True)
    value = cells["annualised"].to_numpy(dtype="float64")
    weight = np.where(has_weight, cells["open_interest_value"].to_numpy(dtype="float64"), 0.0)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values, minlength=len(keys))

    venues = np.bincount(group, minlength=len(keys))
    weighted = total((~has_weight).astype("float64")) == 0  # every venue of the cell has a weight
    annualised = np.where(weighted, total(value * weight) / np.where(weighted, total(weight), 1.0),
                          total(value) / venues)  # fmt: skip
    return pd.DataFrame({"coin": coins[keys // len(times)], "time": times[keys % len(times)],
                         "annualised": annualised, "venues": venues.astype("int64"), "weighted": weighted})
