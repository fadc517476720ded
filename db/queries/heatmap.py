"""Funding heatmap: coins × time buckets of annualised settled funding, one venue or several averaged (issue 8,
item 7)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import align_range, bucket_name, check_range, connected, fetch_rows
from db.queries.markets import HOURS_PER_YEAR
from db.queries.newest import probe, probe_notional_sql
from db.queries.pairs import FUNDING_SELECTION_SQL, coin_parts, selection_params
from db.summaries import SETTLED_ROLLUPS

#: Per pair of the selection (``FUNDING_SELECTION_SQL``: the catalogue read in the statement) its exchange, symbol,
#: open-interest ``weight`` (its ``open_interest_newest`` notional when that row lies in the window; ``later``: the
#: row is after the window, so the weight is probed, :func:`_weights`) and its settled rows bucketed, as arrays
#: (bucket start, mean annualised rate: each row with its own interval, rate × 8,760 / interval hours; rows
#: averaged): a few hundred rows to decode instead of tens of thousands of cells (``timestamptz[]`` and ``float8[]``
#: straight into numpy, :func:`~db.queries.common.fetch_rows`). The arrays are not ordered in SQL (an ``ORDER BY``
#: per aggregate sorts each array again: +50 % query time); numpy sorts. ``{source}``: a settled rollup of
#: :mod:`db.summaries` (sums of whole periods: exact for buckets those periods tile) or raw rows.
#: ``{settlements}``: the settlements array, or nothing when the caller needs no counts (the averaged heatmap: a
#: third fewer values to aggregate and decode). No probe of ``open_interest`` in the statement: planned over its
#: chunks on every request (~3 ms) though a live window never runs it.
_CELLS_SQL = f"""
WITH w AS MATERIALIZED (
    SELECT p.exchange, p.symbol, o.time >= :end AS later,
           CASE WHEN o.time >= :start AND o.time < :end THEN o.open_interest_value END AS weight
    FROM ({FUNDING_SELECTION_SQL}) p
    LEFT JOIN open_interest_newest o ON o.exchange = p.exchange AND o.symbol = p.symbol)
SELECT p.exchange, p.symbol, p.later, p.weight, b.*
FROM w AS p CROSS JOIN LATERAL (
    SELECT array_agg(x.time) AS times, array_agg(x.annualised) AS annualised {{settlements}}
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
#: Per pair, its newest open-interest notional in ``[lo, hi)`` (the weight of a pair whose summary row is later).
_PROBE_WEIGHT_SQL = probe_notional_sql("o.time >= :lo AND o.time < :hi")


def _source(bucket: timedelta) -> str:
    """The cells' source for ``bucket``: the settled rollup of that period (one row per cell), else the coarsest
    whose period divides it (rows summed per bucket), else raw rows."""
    fits = [(period, table) for period, table in SETTLED_ROLLUPS.items() if bucket % period == timedelta(0)]
    if not fits:
        return _RAW_SOURCE
    period, table = fits[-1]
    return (_PERIOD_SOURCE if period == bucket else _ROLLUP_SOURCE).format(table=table.name)


class _Cells(NamedTuple):
    """The cells of a window as arrays. Pairs (``P``, with cells) sorted by coin, exchange, symbol: ``coins``
    (sorted distinct coin names), ``pair_coin`` (P: index into ``coins``), ``exchanges``, ``symbols`` (P lists),
    ``weight`` (P: newest open-interest notional in the window, NaN if none). Cells (``N``) in pair, then time
    order: ``pair`` (N: index of its pair), ``slot`` (N: bucket number from ``start``), ``annualised`` (N),
    ``settlements`` (N, or None when not read). ``grid``: the ``T`` bucket starts (``datetime64[us, UTC]``)."""

    coins: list[str]
    pair_coin: np.ndarray
    exchanges: list[str]
    symbols: list[str]
    weight: np.ndarray
    pair: np.ndarray
    slot: np.ndarray
    annualised: np.ndarray
    settlements: np.ndarray | None
    grid: pd.DatetimeIndex


def _weights(conn: Connection, rows: list[tuple], start: datetime, end: datetime) -> np.ndarray:
    """Per row of :data:`_CELLS_SQL` (``exchange``, ``symbol``, ``later``, ``weight``, …) its weight (NaN if none):
    the summary's, else for a ``later`` summary row the newest notional in ``[start, end)`` probed."""
    weight = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype="float64")
    later = [i for i, r in enumerate(rows) if r[2]]
    if later:
        weight[later] = probe(conn, _PROBE_WEIGHT_SQL, [rows[i][0] for i in later], [rows[i][1] for i in later],
                              lo=start, hi=end)  # fmt: skip
    return weight


def _cells(conn: Connection, exchange: str | None, coins: Sequence[str] | None, start: datetime, end: datetime,
           bucket: timedelta, counts: bool = True) -> _Cells:
    """The cells (:class:`_Cells`) of every pair + bucket with settlements in ``[start, end)`` (already aligned to
    ``bucket``). Source: :func:`_source`."""
    extra = ", array_agg(x.settlements) AS settlements" if counts else ""
    sql = _CELLS_SQL.format(source=_source(bucket), settlements=extra)
    optional = {"width": bucket, "year": HOURS_PER_YEAR}
    params = {**selection_params(conn, None if exchange is None else [exchange], coins), "start": start, "end": end}
    stmt = text(sql).bindparams(**params, **{k: v for k, v in optional.items() if f":{k}" in sql})
    _, found = fetch_rows(conn, stmt, numpy_arrays=True)
    keys = [(coin_parts(r[1])[0], r[0], r[1]) for r in found]
    rows = [found[i] for i in sorted(range(len(found)), key=keys.__getitem__)]
    names = sorted({coin for coin, _, _ in keys})
    code = {name: i for i, name in enumerate(names)}
    width = bucket // timedelta(microseconds=1)
    grid = pd.date_range(start, end, freq=bucket, inclusive="left", unit="us")
    sizes = np.array([len(r[4]) for r in rows], dtype="int64")
    pair = np.repeat(np.arange(len(rows)), sizes)

    def flat(column: int, dtype: str) -> np.ndarray:
        parts = [r[column] for r in rows]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)

    slot = (flat(4, "datetime64[us]") - grid[0].tz_convert(None).to_datetime64()).view("int64") // width
    order = np.argsort(pair * len(grid) + slot)  # pairs order, then time
    return _Cells(names, np.array([code[coin_parts(r[1])[0]] for r in rows], dtype="int64"),
                  [r[0] for r in rows], [r[1] for r in rows], _weights(conn, rows, start, end), pair[order],
                  slot[order], flat(5, "float64")[order], flat(6, "int64")[order] if counts else None, grid)


def _strings(values: list[str], at: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``values[at]`` as pandas' ``str`` array (the labels converted once, then taken: no check per cell)."""
    return pd.array(values, dtype="str").take(at)


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
        c = _cells(conn, exchange, coins, start, end, bucket)
    order = np.lexsort((c.pair, c.slot, c.pair_coin[c.pair]))  # coin, time, then exchange + symbol (pairs order)
    pair = c.pair[order]
    return pd.DataFrame({"coin": _strings(c.coins, c.pair_coin[pair]), "time": c.grid[c.slot[order]],
                         "exchange": _strings(c.exchanges, pair), "symbol": _strings(c.symbols, pair),
                         "annualised": c.annualised[order], "settlements": c.settlements[order],
                         "open_interest_value": c.weight[pair]})  # fmt: skip


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
        c = _cells(conn, exchange, coins, start, end, bucket, counts=False)
    has_weight = (c.weight > 0)[c.pair]  # per cell; NaN: False
    if len(c.coins) == len(c.exchanges):  # one pair per coin (e.g. one exchange): the cells, in coin, time order
        return pd.DataFrame({"coin": _strings(c.coins, c.pair_coin[c.pair]), "time": c.grid[c.slot],
                             "annualised": c.annualised, "venues": np.ones(len(c.pair), dtype="int64"),
                             "weighted": has_weight})  # fmt: skip
    return _average(c, has_weight)


def _average(c: _Cells, has_weight: np.ndarray) -> pd.DataFrame:
    """The cells averaged per coin + time (:func:`funding_heatmap`), sorted by coin, time: group sums by
    ``np.bincount`` in cell order (pairs order within a group) over the coin × time slots present (a pandas
    ``groupby`` of five aggregates took 4× as long on 47,000 cells; keys from integer codes, not labels)."""
    key = c.pair_coin[c.pair] * len(c.grid) + c.slot
    venues = np.bincount(key, minlength=len(c.coins) * len(c.grid))
    keys = np.flatnonzero(venues)
    group = (np.cumsum(venues > 0) - 1)[key]
    venues = venues[keys]
    weight = np.where(has_weight, c.weight[c.pair], 0.0)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values, minlength=len(keys))

    weighted = total((~has_weight).astype("float64")) == 0  # every venue of the cell has a weight
    annualised = np.where(weighted, total(c.annualised * weight) / np.where(weighted, total(weight), 1.0),
                          total(c.annualised) / venues)  # fmt: skip
    return pd.DataFrame({"coin": _strings(c.coins, keys // len(c.grid)), "time": c.grid[keys % len(c.grid)],
                         "annualised": annualised, "venues": venues.astype("int64"), "weighted": weighted})
