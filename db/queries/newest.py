"""Newest funding row and open-interest notional per pair at a time, from the summary tables of
:mod:`db.summaries` (``funding_newest``, ``open_interest_newest``) and the ``pair_extents`` catalogue: one read of
small tables when their rows are not after that time (the live case), and a primary-key probe of the raw
hypertable only for the pairs whose newest row is after it (a view of the past). Both give what the probes alone
would (``tests/test_markets_queries.py``); the probes over 1,800 pairs cost ~150 ms (``make bench-market``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import fetch_frame

_VALUES = ("funding_rate", "funding_interval_hours", "next_funding_time", "mark_price", "index_price")


#: Per pair of the catalogue, the newer of its newest predicted and newest settled row in ``(since, at]``
#: (predicted on a tie): the ``funding_newest`` rows not after ``at``, and for keys whose newest row is after ``at``
#: a primary-key probe; the interval of a row without one is that of the newest settled row at or before ``at``
#: stating one (catalogue, else a probe); the newest notional in ``(since, at]``. ``funding_newest`` is scanned
#: once (``n``; updated in place every minute, it spans many pages), the pair's two rows joined to the catalogue
#: by hash joins (a full join of the two kinds sorted both sides on text keys): no per-pair loop in the live case.
_PREDICTED = "b.time IS NULL OR a.time >= b.time"
_PICKED = ("time", "settled", *_VALUES)
NEWEST_SQL = f"""
WITH n AS MATERIALIZED (SELECT exchange, symbol, settled, time, {", ".join(_VALUES)} FROM funding_newest
                        WHERE time > :since),
c AS (
    SELECT * FROM n WHERE time <= :at
    UNION ALL
    SELECT n.exchange, n.symbol, n.settled, r.time, {", ".join(f"r.{c}" for c in _VALUES)} FROM n
    CROSS JOIN LATERAL (SELECT * FROM funding_rates f WHERE f.exchange = n.exchange AND f.symbol = n.symbol
        AND f.settled = n.settled AND f.time <= :at AND f.time > :since ORDER BY f.time DESC LIMIT 1) r
    WHERE n.time > :at)
SELECT e.exchange, e.symbol, {", ".join(f"CASE WHEN {_PREDICTED} THEN a.{c} ELSE b.{c} END AS {c}" for c in _PICKED)},
       e.funding_interval_hours AS stated_hours, e.interval_time, o.time AS notional_time, o.open_interest_value
FROM pair_extents e
LEFT JOIN c a ON a.exchange = e.exchange AND a.symbol = e.symbol AND NOT a.settled
LEFT JOIN c b ON b.exchange = e.exchange AND b.symbol = e.symbol AND b.settled
LEFT JOIN open_interest_newest o ON o.exchange = e.exchange AND o.symbol = e.symbol
WHERE e.stream = 'funding' AND e.first_time <= :at AND e.last_time > :since
  AND (a.time IS NOT NULL OR b.time IS NOT NULL)
  AND (CAST(:exchanges AS text[]) IS NULL OR e.exchange = ANY(:exchanges))
"""
#: Per pair, the interval of its newest settled row at or before ``at`` stating one (primary-key probe).
_PROBE_INTERVAL_SQL = """SELECT (SELECT s.funding_interval_hours FROM funding_rates s WHERE s.exchange = k.exchange
    AND s.symbol = k.symbol AND s.settled AND s.time <= :at AND s.funding_interval_hours IS NOT NULL
    ORDER BY s.time DESC LIMIT 1)
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) WITH ORDINALITY AS k(exchange, symbol, ord)
ORDER BY k.ord"""


def probe_notional_sql(window: str) -> str:
    """SQL of the newest notional, per pair of the ``exchanges``/``symbols`` arrays (in their order), over the three
    sources of ``open_interest`` (primary-key probes, ``LIMIT 1`` each) among the rows whose ``o.time`` meets
    ``window`` (SQL conditions on ``o.time``, e.g. ``o.time > :lo AND o.time <= :hi``); NULL if none."""
    return f"""SELECT (SELECT r.open_interest_value
    FROM (VALUES ('live'), ('history'), ('recorded')) AS s(source)
    CROSS JOIN LATERAL (SELECT time, open_interest_value FROM open_interest o WHERE o.exchange = k.exchange
        AND o.symbol = k.symbol AND o.source = s.source AND {window}
        AND o.open_interest_value IS NOT NULL ORDER BY o.time DESC LIMIT 1) r
    ORDER BY r.time DESC LIMIT 1)
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) WITH ORDINALITY AS k(exchange, symbol, ord)
ORDER BY k.ord"""


#: Per pair, the newest notional in ``(lo, hi]``.
PROBE_NOTIONAL_SQL = probe_notional_sql("o.time > :lo AND o.time <= :hi")


def probe(conn: Connection, sql: str, exchanges: Sequence[str], symbols: Sequence[str], **params) -> np.ndarray:
    """The one float column of ``sql`` (:func:`probe_notional_sql`, :data:`_PROBE_INTERVAL_SQL`) per pair of the
    parallel lists ``exchanges``, ``symbols``, in order (NaN for NULL)."""
    result = conn.execute(text(sql), {"exchanges": list(exchanges), "symbols": list(symbols), **params})
    return np.array([np.nan if v is None else float(v) for (v,) in result], dtype="float64")


def newest_rows(conn: Connection, exchanges: Sequence[str] | None, at: datetime, since: datetime) -> pd.DataFrame:
    """Per pair on ``exchanges`` (ccxt ids; None: all) with a funding row in ``(since, at]`` (aware UTC), its
    newest one (:data:`NEWEST_SQL`). Columns: ``exchange``, ``symbol``,
    ``time``, ``settled``, ``funding_rate``, ``next_funding_time``, ``mark_price``, ``index_price``,
    ``funding_interval_hours`` (the row's own, else that of the pair's newest settled row at or before ``at``
    stating one; NaN when none does), ``open_interest_value`` (the newest notional in ``(since, at]``; NaN if
    none); unordered."""
    chosen = None if exchanges is None else list(exchanges)
    stmt = text(NEWEST_SQL).bindparams(exchanges=chosen, at=at, since=since)
    out = fetch_frame(conn, stmt, ["time", "next_funding_time", "interval_time", "notional_time"])
    hours = out["funding_interval_hours"].to_numpy(dtype="float64", na_value=np.nan)
    stated = out["stated_hours"].to_numpy(dtype="float64", na_value=np.nan)
    known = (out["interval_time"] <= at).to_numpy()
    later = np.isnan(hours) & ~known & out["interval_time"].notna().to_numpy()
    hours = np.where(np.isnan(hours) & known, stated, hours)
    if later.any():  # a view of the past: the catalogue's interval is newer than ``at``
        hours[later] = probe(conn, _PROBE_INTERVAL_SQL, out.loc[later, "exchange"], out.loc[later, "symbol"], at=at)
    notional_time = out["notional_time"]
    value = out["open_interest_value"].to_numpy(dtype="float64", na_value=np.nan)
    value = np.where((notional_time > since).to_numpy(), value, np.nan)
    later = (notional_time > at).to_numpy()
    if later.any():
        value[later] = probe(conn, PROBE_NOTIONAL_SQL, out.loc[later, "exchange"], out.loc[later, "symbol"],
                             lo=since, hi=at)
    out["funding_interval_hours"], out["open_interest_value"] = hours, value
    return out
