"""Which exchange + symbol pairs have data, and their first/last times (symbol lists, data extent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import CANDLE_TIMEFRAMES, frame_of, pair_params

_PAIRS_SQL = """
WITH RECURSIVE {name} AS (
    (SELECT exchange, symbol FROM {table} ORDER BY exchange, symbol LIMIT 1)
    UNION ALL
    SELECT n.exchange, n.symbol FROM {name} p CROSS JOIN LATERAL (
        SELECT exchange, symbol FROM {table} WHERE (exchange, symbol) > (p.exchange, p.symbol)
        ORDER BY exchange, symbol LIMIT 1) n
)"""


def _edge_lateral(table: str, key: str, values: str, direction: str, alias: str) -> str:
    """A LATERAL giving the first/last ``time`` of a pair: one ordered ``LIMIT 1`` index probe per value of the
    primary-key column ``key`` that precedes ``time`` (so the hypertable's ordered chunk append stops early)."""
    return f"""
LEFT JOIN LATERAL (SELECT e.time FROM (VALUES {values}) AS k(v) CROSS JOIN LATERAL (
    SELECT time FROM {table} WHERE exchange = pairs.exchange AND symbol = pairs.symbol AND {key}
    ORDER BY time {direction} LIMIT 1) e ORDER BY e.time {direction} LIMIT 1) {alias} ON true"""


_PRICE_KEY = "timeframe = k.v AND price_kind = 'last'"
_PRICE_TFS = ", ".join(f"('{name}')" for name in CANDLE_TIMEFRAMES)

_EDGES_SQL = (
    """
SELECT pairs.exchange, pairs.symbol, fi.funding_interval_hours,
       ff.time AS funding_first, fl.time AS funding_last, pf.time AS prices_first, pl.time AS prices_last
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS pairs(exchange, symbol)
LEFT JOIN LATERAL (SELECT funding_interval_hours FROM funding_rates
    WHERE exchange = pairs.exchange AND symbol = pairs.symbol AND settled AND funding_interval_hours IS NOT NULL
    ORDER BY time DESC LIMIT 1) fi ON true"""
    + _edge_lateral("funding_rates", "settled = k.v", "(true), (false)", "ASC", "ff")
    + _edge_lateral("funding_rates", "settled = k.v", "(true), (false)", "DESC", "fl")
    + _edge_lateral("prices", _PRICE_KEY, _PRICE_TFS, "ASC", "pf")
    + _edge_lateral("prices", _PRICE_KEY, _PRICE_TFS, "DESC", "pl")
    + """
ORDER BY pairs.exchange, pairs.symbol
"""
)


_KNOWN_PAIRS_SQL = (
    _PAIRS_SQL.format(name="fpairs", table="funding_rates")
    + ","
    + _PAIRS_SQL.format(name="ppairs", table="prices").replace("WITH RECURSIVE", "")
    + "SELECT exchange, symbol FROM fpairs UNION SELECT exchange, symbol FROM ppairs ORDER BY exchange, symbol"
)


def known_pairs(conn: Connection) -> list[tuple[str, str]]:
    """Every ``(exchange, symbol)`` with rows in ``funding_rates`` or ``prices``, sorted; the cheap part of
    :func:`list_symbols` (a loose index scan only), used to validate request parameters."""
    return [(row.exchange, row.symbol) for row in conn.execute(text(_KNOWN_PAIRS_SQL))]



def _pair_edges(conn: Connection, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """First/last funding and price times (and newest interval) of each pair: one ordered ``LIMIT 1`` index probe
    per pair and primary-key prefix, so the cost grows with pairs, not rows."""
    times = ["funding_first", "funding_last", "prices_first", "prices_last"]
    return frame_of(conn.execute(text(_EDGES_SQL), pair_params(pairs)), times)


def list_symbols(conn: Connection, pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Every exchange + symbol with rows in ``funding_rates`` or ``prices`` (or only ``pairs``, e.g. a cached
    :func:`known_pairs`, which is the costly part: a loose index scan over every chunk).

    Columns: ``exchange`` (ccxt id), ``symbol`` (unified), ``display`` (``BTC/USDT``),
    ``funding_interval_hours`` (float hours of the newest settled row that states it; NaN when unknown),
    ``streams`` (tuple of :data:`STREAMS` names with data), ``first_time`` / ``last_time`` (UTC, over both
    tables; candle times are open times). Sorted by exchange, symbol.
    """
    raw = _pair_edges(conn, known_pairs(conn) if pairs is None else pairs)
    raw = raw[raw["funding_last"].notna() | raw["prices_last"].notna()]
    out = raw[["exchange", "symbol"]].copy()
    out["display"] = [s.split(":", 1)[0] for s in raw["symbol"]]
    out["funding_interval_hours"] = raw["funding_interval_hours"].astype("float64")
    out["streams"] = [
        tuple(name for name, present in (("funding", f), ("ohlcv", p)) if present)
        for f, p in zip(raw["funding_last"].notna(), raw["prices_last"].notna(), strict=True)
    ]
    out["first_time"] = raw[["funding_first", "prices_first"]].min(axis=1)
    out["last_time"] = raw[["funding_last", "prices_last"]].max(axis=1)
    return out.reset_index(drop=True)


def data_extent(
    conn: Connection,
    exchanges: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> tuple[datetime, datetime] | None:
    """``(first_time, last_time)`` (UTC) of all funding and price rows of the given exchanges/symbols, or ``None``
    when there are none. Used to offer "the newest period that has data" when a chosen range is empty.
    ``pairs`` (e.g. a cached :func:`known_pairs`) saves the loose index scan when a list is ``None``."""
    edges = _pair_edges(conn, all_pairs(conn, exchanges, symbols, pairs))
    firsts = edges[["funding_first", "prices_first"]].min(axis=None)
    lasts = edges[["funding_last", "prices_last"]].max(axis=None)
    if pd.isna(firsts):
        return None
    return firsts.to_pydatetime(), lasts.to_pydatetime()


def all_pairs(conn: Connection, exchanges: Sequence[str] | None, symbols: Sequence[str] | None,
              pairs: Sequence[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """The ``(exchange, symbol)`` pairs a query covers: every combination when both lists are given, else the
    pairs with data (``pairs``, e.g. a cached :func:`known_pairs`, or a fresh loose index scan) filtered by the
    given list (None: no limit)."""
    if exchanges is not None and symbols is not None:
        return [(e, s) for e in exchanges for s in symbols]
    pairs = known_pairs(conn) if pairs is None else pairs
    return [(e, s) for e, s in pairs if (exchanges is None or e in exchanges) and (symbols is None or s in symbols)]

