"""Newest funding row and open-interest notional per pair at a time, from the summary tables of
:mod:`db.summaries` (``funding_newest``, ``open_interest_newest``, ``pair_extents``): a read of three small tables
when their rows are not after that time (the live case), and a primary-key probe of the raw hypertable only for
the pairs whose newest row is after it (a view of the past). Both give what the probes alone would (tested in
``tests/test_markets_queries.py``); the probes over 1,800 pairs cost ~150 ms (``make bench-market``)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import frame_of

_FUNDING_VALUES = ["funding_rate", "funding_interval_hours", "next_funding_time", "mark_price", "index_price"]
_TIMES = ["time", "next_funding_time"]

_NEWEST_FUNDING_SQL = f"""SELECT exchange, symbol, settled, time, {", ".join(_FUNDING_VALUES)} FROM funding_newest
WHERE time > :since"""
#: Per (exchange, symbol, settled) key, its newest raw row in ``(since, at]`` (primary-key probe).
_PROBE_FUNDING_SQL = f"""SELECT k.exchange, k.symbol, k.settled, r.time, {", ".join(f"r.{c}" for c in _FUNDING_VALUES)}
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[]), CAST(:settled AS boolean[]))
     AS k(exchange, symbol, settled)
CROSS JOIN LATERAL (SELECT * FROM funding_rates f WHERE f.exchange = k.exchange AND f.symbol = k.symbol
    AND f.settled = k.settled AND f.time <= :at AND f.time > :since ORDER BY f.time DESC LIMIT 1) r"""
#: Per pair, the interval of its newest settled row at or before ``at`` that states one (primary-key probe).
_PROBE_INTERVAL_SQL = """SELECT k.exchange, k.symbol, (SELECT s.funding_interval_hours FROM funding_rates s
    WHERE s.exchange = k.exchange AND s.symbol = k.symbol AND s.settled AND s.time <= :at
      AND s.funding_interval_hours IS NOT NULL ORDER BY s.time DESC LIMIT 1) AS interval_hours
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS k(exchange, symbol)"""
_INTERVALS_SQL = """SELECT exchange, symbol, funding_interval_hours AS interval_hours, interval_time
FROM pair_extents WHERE stream = 'funding' AND interval_time IS NOT NULL"""
_NEWEST_NOTIONAL_SQL = "SELECT exchange, symbol, time, open_interest_value FROM open_interest_newest"
#: Per pair, the newest notional of the rows meeting ``{lower}`` and ``{upper}`` over the three sources (each a
#: primary-key probe).
_PROBE_NOTIONAL_SQL = """SELECT k.exchange, k.symbol, (SELECT r.open_interest_value
    FROM (VALUES ('live'), ('history'), ('recorded')) AS s(source)
    CROSS JOIN LATERAL (SELECT time, open_interest_value FROM open_interest o WHERE o.exchange = k.exchange
        AND o.symbol = k.symbol AND o.source = s.source AND {lower} AND {upper}
        AND o.open_interest_value IS NOT NULL ORDER BY o.time DESC LIMIT 1) r
    ORDER BY r.time DESC LIMIT 1) AS open_interest_value
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS k(exchange, symbol)"""


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[["exchange", "symbol"]])


def _probe(conn: Connection, sql: str, frame: pd.DataFrame, params: dict, times=()) -> pd.DataFrame:
    pairs = {"exchanges": frame["exchange"].tolist(), "symbols": frame["symbol"].tolist()}
    return frame_of(conn.execute(text(sql), {**pairs, **params}), list(times))


def newest_funding(conn: Connection, pairs: pd.DataFrame, at: datetime, since: datetime) -> pd.DataFrame:
    """Per pair of ``pairs`` (``exchange``, ``symbol`` columns), its newest funding row in ``(since, at]`` (aware
    UTC): the newer of its newest predicted and newest settled row, predicted on a tie; pairs without one are
    left out. Columns: ``exchange``, ``symbol``, ``settled``, ``time``, ``funding_rate``,
    ``funding_interval_hours`` (the row's own, else that of the pair's newest settled row at or before ``at``
    stating one; NaN when none does), ``next_funding_time``, ``mark_price``, ``index_price``."""
    stored = frame_of(conn.execute(text(_NEWEST_FUNDING_SQL), {"since": since}), _TIMES)
    stored = stored[_keys(stored).isin(_keys(pairs))]
    later = stored["time"] > at
    if later.any():  # a view of the past: probe those keys
        keys = stored[later]
        found = _probe(conn, _PROBE_FUNDING_SQL, keys, {"settled": keys["settled"].tolist(), "at": at,
                                                         "since": since}, _TIMES)  # fmt: skip
        stored = pd.concat([stored[~later], found], ignore_index=True) if len(found) else stored[~later]
    rows = stored.sort_values(["exchange", "symbol", "time", "settled"], ascending=[True, True, False, True])
    rows = rows.drop_duplicates(["exchange", "symbol"]).reset_index(drop=True)
    rows["funding_interval_hours"] = rows["funding_interval_hours"].astype("float64")
    missing = rows["funding_interval_hours"].isna()
    if missing.any():
        rows.loc[missing, "funding_interval_hours"] = _stated_intervals(conn, rows[missing], at)
    return rows


def _stated_intervals(conn: Connection, rows: pd.DataFrame, at: datetime) -> np.ndarray:
    """Per row of ``rows`` (pairs), the interval of the pair's newest settled row at or before ``at`` stating one
    (the catalogue's when that row is not after ``at``, else a probe); NaN when none."""
    known = frame_of(conn.execute(text(_INTERVALS_SQL)), ["interval_time"]).set_index(["exchange", "symbol"])
    known = known.reindex(_keys(rows))
    hours = known["interval_hours"].astype("float64").to_numpy()
    later = (known["interval_time"] > at).to_numpy()
    if later.any():
        probed = _probe(conn, _PROBE_INTERVAL_SQL, rows[later], {"at": at})
        hours[later] = probed["interval_hours"].astype("float64").to_numpy()
    return hours


def newest_notional(conn: Connection, pairs: pd.DataFrame, lo: datetime, hi: datetime, closed: str) -> np.ndarray:
    """Per pair of ``pairs`` (``exchange``, ``symbol``), the quote notional of its newest ``open_interest`` row
    (any source) with one whose time lies between ``lo`` and ``hi`` (aware UTC; ``closed``: ``"right"`` for
    ``(lo, hi]``, ``"left"`` for ``[lo, hi)``); NaN when none (a float array in ``pairs`` order)."""
    stored = frame_of(conn.execute(text(_NEWEST_NOTIONAL_SQL)), ["time"]).set_index(["exchange", "symbol"])
    stored = stored.reindex(_keys(pairs))
    time, value = stored["time"], stored["open_interest_value"].astype("float64").to_numpy()
    inside = (time > lo) & (time <= hi) if closed == "right" else (time >= lo) & (time < hi)
    later = ((time > hi) if closed == "right" else (time >= hi)).to_numpy()
    out = np.where(inside.to_numpy(), value, np.nan)
    if later.any():
        lower, upper = ("o.time > :lo", "o.time <= :hi") if closed == "right" else ("o.time >= :lo", "o.time < :hi")
        probed = _probe(conn, _PROBE_NOTIONAL_SQL.format(lower=lower, upper=upper), pairs[later],
                        {"lo": lo, "hi": hi})  # fmt: skip
        out[later] = probed["open_interest_value"].astype("float64").to_numpy()
    return out
