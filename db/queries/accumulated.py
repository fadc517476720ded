"""Accumulated funding over a window per coin + venue (issue 8, item 8): what holding one unit of a perpetual paid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import check_range, connected, frame_of
from db.queries.markets import HOURS_PER_YEAR
from db.queries.pairs import funding_pairs, join_pairs

#: Per pair, one aggregate over its settled rows in the window (a primary-key range scan).
_ACCUMULATED_SQL = """
SELECT p.exchange, p.symbol, a.accumulated, a.settlements, a.funding_interval_hours, a.first_time, a.last_time
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT sum(funding_rate) AS accumulated, count(*) AS settlements,
           last(funding_interval_hours, time) AS funding_interval_hours, min(time) AS first_time,
           max(time) AS last_time
    FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled AND time >= :start AND time < :end) a
WHERE a.settlements > 0
"""

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
        params = {"exchanges": pairs["exchange"].tolist(), "symbols": pairs["symbol"].tolist(), "start": start,
                  "end": end}  # fmt: skip
        raw = frame_of(conn.execute(text(_ACCUMULATED_SQL), params), ["first_time", "last_time"])
    out = join_pairs(pairs, raw)
    for col in ("accumulated", "funding_interval_hours"):
        out[col] = out[col].astype("float64")
    out["settlements"] = out["settlements"].astype("int64")
    out["annualised"] = out["accumulated"] * HOURS_PER_YEAR / ((end - start).total_seconds() / 3600.0)
    return out[ACCUMULATED_COLUMNS].reset_index(drop=True)
