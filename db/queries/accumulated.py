"""Accumulated funding over a window per coin + venue (issue 8, item 8): what holding one unit of a perpetual paid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import BUCKET_ORIGIN, check_range, connected, fetch_frame
from db.queries.markets import HOURS_PER_YEAR
from db.queries.pairs import funding_pairs, join_pairs
from db.summaries import SETTLED_ROLLUPS

#: Per pair, one aggregate over the pieces covering the window (:func:`_pieces`): whole days and hours from the
#: settled rollups of :mod:`db.summaries`, the partial hours at either end from raw settled rows.
_ACCUMULATED_SQL = """
SELECT p.exchange, p.symbol, a.accumulated, a.settlements, a.funding_interval_hours, a.first_time, a.last_time
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT sum(x.rate_sum) AS accumulated, sum(x.settlements) AS settlements,
           last(x.last_interval_hours, x.last_time) AS funding_interval_hours, min(x.first_time) AS first_time,
           max(x.last_time) AS last_time
    FROM ({pieces}) x) a
WHERE a.settlements > 0
"""
_ROLLUP_PIECE = """SELECT settlements, rate_sum, first_time, last_time, last_interval_hours FROM {table}
    WHERE exchange = p.exchange AND symbol = p.symbol AND time >= :lo{i} AND time < :hi{i}"""
_RAW_PIECE = """SELECT 1, funding_rate, time, time, funding_interval_hours FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled AND time >= :lo{i} AND time < :hi{i}"""


def _floor(t: datetime, width: timedelta) -> datetime:
    return BUCKET_ORIGIN + ((t - BUCKET_ORIGIN) // width) * width


def _ceil(t: datetime, width: timedelta) -> datetime:
    return BUCKET_ORIGIN - ((BUCKET_ORIGIN - t) // width) * width


#: The rollups the pieces come from: the coarsest and the finest. Each piece is one index scan per pair (~5 µs
#: each, 1,786 pairs: ~9 ms), a row of a scan ~0.3 µs: a window's partial days from ≤ 23 hourly rows per side cost
#: less than from 8 h + 4 h + 1 h pieces (``make bench-market``: 67 vs 72-80 ms of SQL over 30 days).
_PIECE_ROLLUPS = {period: SETTLED_ROLLUPS[period] for period in (max(SETTLED_ROLLUPS), min(SETTLED_ROLLUPS))}


def _pieces(start: datetime, end: datetime) -> list[tuple[str | None, datetime, datetime]]:
    """``[start, end)`` as non-empty ``(table, lo, hi)`` pieces, coarsest first: whole periods of each rollup of
    :data:`_PIECE_ROLLUPS` (``table`` its name) inside the part not yet covered, the rest raw rows (``table``
    None)."""
    pieces, todo = [], [(start, end)]
    for period, table in _PIECE_ROLLUPS.items():
        rest = []
        for lo, hi in todo:
            a, b = _ceil(lo, period), _floor(hi, period)
            if a < b:
                pieces.append((table.name, a, b))
                rest += [(lo, a), (b, hi)]
            else:
                rest.append((lo, hi))
        todo = [(lo, hi) for lo, hi in rest if lo < hi]
    return pieces + [(None, lo, hi) for lo, hi in todo]


ACCUMULATED_COLUMNS = [
    "coin", "exchange", "symbol", "accumulated", "settlements", "funding_interval_hours", "annualised",
    "first_time", "last_time",
]  # fmt: skip


def accumulated_funding(
    engine: Engine | Connection,
    exchanges: Sequence[str] | None,
    coins: Sequence[str] | None,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Funding accumulated by the settlements in ``[start, end)`` (settlement times, aware UTC) of every perpetual
    of ``coins`` (coin names, :func:`db.coins.coin_of`; None = all) on ``exchanges`` (ccxt ids; None = all).

    One row per coin + exchange + symbol with at least one settlement, sorted by coin, exchange, symbol.
    Columns: ``coin``, ``exchange``, ``symbol``; ``accumulated`` (sum of the settled funding rates, a fraction
    of the position's notional: what a 1-unit long paid over the window; positive = longs paid shorts, negative
    = shorts paid longs; rates are each venue's fraction per its own interval, so a sum over settlements is
    comparable across 1 h, 4 h and 8 h venues); ``settlements`` (rows summed); ``funding_interval_hours`` (of
    the newest of them, hours; NaN if it states none); ``annualised`` (``accumulated`` × 8,760 / the window's
    length in hours: fraction per year at the window's average pace; it counts the whole window even when the
    pair's data starts later); ``first_time``, ``last_time`` (UTC, first and last settlement summed).
    Predicted rates are not summed: only settled rates are paid. Raises ``ValueError`` for a bad range."""
    check_range(start, end)
    with connected(engine) as conn:
        pairs = funding_pairs(conn, exchanges, coins)
        pairs = pairs[(pairs["first_time"] < end) & (pairs["last_time"] >= start)]
        pieces = _pieces(start, end)
        sql = _ACCUMULATED_SQL.format(pieces="\n    UNION ALL ".join(
            (_ROLLUP_PIECE.format(table=table, i=i) if table else _RAW_PIECE.format(i=i))
            for i, (table, _, _) in enumerate(pieces)))
        params = {"exchanges": pairs["exchange"].tolist(), "symbols": pairs["symbol"].tolist(),
                  **{f"lo{i}": lo for i, (_, lo, _) in enumerate(pieces)},
                  **{f"hi{i}": hi for i, (_, _, hi) in enumerate(pieces)}}  # fmt: skip
        raw = fetch_frame(conn, text(sql).bindparams(**params), ["first_time", "last_time"])
    out = join_pairs(pairs, raw)
    for col in ("accumulated", "funding_interval_hours"):
        out[col] = out[col].astype("float64")
    out["settlements"] = out["settlements"].astype("int64")
    out["annualised"] = out["accumulated"] * HOURS_PER_YEAR / ((end - start).total_seconds() / 3600.0)
    return out[ACCUMULATED_COLUMNS].reset_index(drop=True)
