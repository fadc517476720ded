"""The naive reads of ``make bench-market``: the same answers as the market queries, from plain SQL over the raw
``funding_rates`` / ``open_interest`` rows (no ``pair_extents`` catalogue, no per-pair primary-key probes), then
the same pandas step (coin names, venue pairing, open-interest weighting) and JSON as the API sends (uncompressed).
Each function returns ``(rows, bytes)``."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from app.serialize import dumps, json_records
from db.coins import coin_of
from db.queries.markets import HOURS_PER_YEAR, SNAPSHOT_STALENESS, annualise, spreads_of_snapshot

#: Newest notional per pair in ``(since, at]`` over every source.
_OI = """SELECT DISTINCT ON (exchange, symbol) exchange, symbol, open_interest_value FROM open_interest
WHERE time > :since AND time <= :at AND open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC"""
_SNAPSHOT = f"""SELECT f.*, oi.open_interest_value FROM (
    SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, settled, funding_rate, funding_interval_hours,
           next_funding_time, mark_price, index_price
    FROM funding_rates WHERE time > :since AND time <= :at ORDER BY exchange, symbol, time DESC, settled ASC) f
LEFT JOIN ({_OI}) oi USING (exchange, symbol)"""
_HEATMAP = f"""SELECT c.*, oi.open_interest_value FROM (
    SELECT exchange, symbol, time_bucket(:width, time) AS time,
           avg(funding_rate * {HOURS_PER_YEAR} / funding_interval_hours) AS annualised, count(*) AS settlements
    FROM funding_rates WHERE settled AND funding_interval_hours IS NOT NULL AND time >= :start AND time < :end
      AND (CAST(:exchange AS text) IS NULL OR exchange = :exchange)
    GROUP BY 1, 2, 3) c
LEFT JOIN ({_OI.replace(':since', ':start').replace('time <= :at', 'time < :end')}) oi USING (exchange, symbol)"""
_ACCUMULATED = """SELECT exchange, symbol, sum(funding_rate) AS accumulated, count(*) AS settlements,
       last(funding_interval_hours, time) AS funding_interval_hours, min(time) AS first_time, max(time) AS last_time
FROM funding_rates WHERE settled AND time >= :start AND time < :end GROUP BY exchange, symbol"""


def _frame(conn: Connection, sql: str, params: dict) -> pd.DataFrame:
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame.insert(0, "coin", [coin_of(s).name for s in frame["symbol"]])
    return frame


def _json(frame: pd.DataFrame) -> tuple[int, int]:
    return len(frame), len(dumps({"data": json_records(frame)}))


def snapshot_frame(conn: Connection, at: datetime) -> pd.DataFrame:
    """The newest row of every pair in the 24 h before ``at`` with its annualised rate."""
    frame = _frame(conn, _SNAPSHOT, {"at": at, "since": at - SNAPSHOT_STALENESS})
    for col in ("funding_rate", "funding_interval_hours", "open_interest_value"):
        frame[col] = frame[col].astype("float64")
    frame["annualised"] = annualise(frame["funding_rate"], frame["funding_interval_hours"])
    frame["next_funding_time"] = pd.to_datetime(frame["next_funding_time"], utc=True)
    return frame.sort_values(["coin", "exchange", "symbol"], ignore_index=True)


def snapshot(conn: Connection, at: datetime) -> tuple[int, int]:
    return _json(snapshot_frame(conn, at))


def spreads(conn: Connection, at: datetime) -> tuple[int, int]:
    return _json(spreads_of_snapshot(snapshot_frame(conn, at)))


def heatmap(conn: Connection, exchange: str | None, coins: list[str] | None, start: datetime, end: datetime,
            width: timedelta) -> tuple[int, int]:
    """Buckets per pair in SQL, then the coins' cells averaged (weighted by open interest when every venue of a
    cell has it), as ``db.queries.funding_heatmap``."""
    cells = _frame(conn, _HEATMAP, {"exchange": exchange, "start": start, "end": end, "width": width})
    if coins is not None:
        cells = cells[cells["coin"].isin(coins)]
    weight = cells["open_interest_value"].astype("float64")
    value = cells["annualised"].astype("float64")
    cells = cells.assign(annualised=value, weight=weight, product=value * weight, has=weight.notna() & (weight > 0))
    out = cells.groupby(["coin", "time"], sort=True).agg(mean=("annualised", "mean"), venues=("annualised", "size"),
                                                         product=("product", "sum"), weight=("weight", "sum"),
                                                         weighted=("has", "all")).reset_index()  # fmt: skip
    out["annualised"] = np.where(out["weighted"], out["product"] / out["weight"].where(out["weighted"], 1.0),
                                 out["mean"])  # fmt: skip
    return _json(out[["coin", "time", "annualised", "venues", "weighted"]])


def accumulated(conn: Connection, start: datetime, end: datetime) -> tuple[int, int]:
    frame = _frame(conn, _ACCUMULATED, {"start": start, "end": end})
    hours = (end - start).total_seconds() / 3600
    frame["annualised"] = frame["accumulated"].astype("float64") * HOURS_PER_YEAR / hours
    return _json(frame.sort_values(["coin", "exchange", "symbol"], ignore_index=True))
