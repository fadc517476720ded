"""The Markets page's tables (issue 8, items 5, 6 and 8): AG Grid column definitions and JSON-ready rows.

Pure functions of the frames of ``db.queries.markets`` and ``db.queries.accumulated`` (columns documented there and
in :mod:`app.markets`); no database, no clock (``now`` is passed in), no callbacks. Rates arrive as fractions:
per funding interval (``funding_rate``, ``accumulated``) or per year (``annualised`` = rate × 8,760 / the symbol's
own funding interval in hours); cells show them in % (per year or per interval) or bp, as the headers say.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from app import format as fmt
from app.components import grid
from app.controls import ViewState, to_query
from db.symbols import display_symbol

#: Most coins the cross-venue table lists (the largest by open interest; the page says when there are more).
TOP_COINS = 200

#: Cross-venue table: columns before and after the venue columns ((field, header with unit[, least width px])).
CROSS_LEAD = (("coin", "Coin (opens the Overview)", 110),)
CROSS_TAIL = (
    ("spread_pct", "Spread max − min (% / yr)", 120), ("oi_value", "Open interest (quote value)", 150),
    ("premium_bp", "Premium, mean of venues (bp)", 120), ("venues", "Venues", 90),
)  # fmt: skip

#: Open interest cells with thousands separators (quote value, whole units); the value stays a number for sorting and
#: CSV export (d3-format, which dash-ag-grid offers to function strings).
OI_FORMAT = {"valueFormatter": {"function": "params.value == null ? '' : d3.format(',.0f')(params.value)"}}

#: Arbitrage ranking: (field, header with unit[, least width px]).
ARBITRAGE_COLUMNS = (
    ("coin", "Coin", 90), ("long_exchange", "Long on (lower funding)", 135),
    ("short_exchange", "Short on (higher funding)", 135),
    ("spread_pct", "Spread (% / yr)", 110), ("spread_bp_8h", "Spread (bp per 8 h)", 110),
    ("long_pct", "Long leg (% / yr)", 110), ("short_pct", "Short leg (% / yr)", 110),
    ("long_interval_h", "Long leg interval (h)", 100), ("short_interval_h", "Short leg interval (h)", 100),
    ("long_next", "Long leg next funding (UTC)", 185), ("short_next", "Short leg next funding (UTC)", 185),
    ("oi_value", "Open interest (quote value)", 150),
)  # fmt: skip

#: Accumulated funding: (field, header with unit[, least width px]).
ACCUMULATED_COLUMNS = (
    ("coin", "Coin", 90), ("exchange", "Exchange"), ("symbol", "Symbol"),
    ("accumulated_pct", "Accumulated funding (%; + = longs paid shorts)", 160),
    ("settlements", "Settlements", 105), ("interval_h", "Interval (h)", 95),
    ("annualised_pct", "Annualised over the window (% / yr)", 140),
)  # fmt: skip


def overview_link(state: ViewState, symbols: Iterable[str]) -> str:
    """The Overview link (``/?symbols=…``) of ``symbols`` (a coin's perpetuals on every venue, e.g. ``BTC/USDT`` and
    Hyperliquid's ``BTC/USDC``) with the view's exchanges, range and refresh."""
    shown = ViewState(exchanges=state.exchanges, symbols=tuple(symbols), range=state.range, start=state.start,
                      end=state.end, refresh=state.refresh)  # fmt: skip
    return "/?" + to_query(shown)


def _num(value, digits: int) -> float | None:
    """``value`` rounded for a cell; ``None`` for missing (AG Grid sorts it last)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return round(float(value), digits)


def _time(value) -> str | None:
    return None if value is None or pd.isna(value) else fmt.utc(value)


def venue_tooltip(row: pd.Series | dict) -> str:
    """The tooltip of one venue's cell: its symbol, rate per interval (% and bp), interval, predicted or settled, the
    time of the value and the next funding time (UTC)."""
    rate, hours = row["funding_rate"], row["funding_interval_hours"]
    kind = "settled" if bool(row["settled"]) else "predicted"
    when, following = _time(row["time"]) or fmt.MISSING, _time(row["next_funding_time"]) or fmt.MISSING
    return (f"{display_symbol(row['symbol'])} on {row['exchange']}: {fmt.funding_text(rate, hours, 'interval')} "
            f"{kind} at {when}; next funding {following}")


def cross_venue_rows(snapshot: pd.DataFrame, venues: Iterable[str], link: Callable[[str, list[str]], str],
                     min_oi: float = 0.0) -> tuple[list[dict], int]:
    """``(rows, coins)`` of the cross-venue table: one row per coin of ``snapshot`` (``funding_snapshot``: one row per
    coin + exchange) whose open interest (sum over venues, quote value) is at least ``min_oi``, the :data:`TOP_COINS`
    largest by open interest first; ``coins`` counts every coin passing the filter. Per venue of ``venues`` the
    annualised funding in %/yr (field = the exchange id) and its tooltip (``<exchange>_tip``); the spread max − min
    over venues (%/yr), open interest, the mean premium (bp) and the number of venues quoted. ``link(coin, symbols)``
    gives the coin's Overview link."""
    groups: dict[str, list[dict]] = {}
    for record in snapshot.to_dict("records"):  # one pass over plain dicts: no frame slicing per coin and venue
        if isinstance(record["coin"], str):
            groups.setdefault(record["coin"], []).append(record)
    rows = []
    for coin in sorted(groups):
        group = groups[coin]
        annual = _floats(group, "annualised")
        oi, premium = _floats(group, "open_interest_value"), _floats(group, "premium_bp")
        quoted = int(np.isfinite(annual).sum())
        total_oi = float(np.nansum(oi)) if np.isfinite(oi).any() else None
        if min_oi and (total_oi is None or total_oi < min_oi):
            continue
        row = {"coin": coin, "link": link(coin, sorted(r["symbol"] for r in group)),
               "spread_pct": _num((np.nanmax(annual) - np.nanmin(annual)) * 100, 3) if quoted > 1 else None,
               "oi_value": _num(total_oi, 0),
               "premium_bp": _num(np.nanmean(premium), 2) if np.isfinite(premium).any() else None,
               "venues": quoted}  # fmt: skip
        for venue in group:
            if venue["exchange"] in venues:
                row[venue["exchange"]] = _num(venue["annualised"] * 100, 3)
                row[f"{venue['exchange']}_tip"] = venue_tooltip(venue)
        rows.append(row)
    rows.sort(key=lambda r: (r["oi_value"] is None, -(r["oi_value"] or 0), r["coin"]))
    return rows[:TOP_COINS], len(rows)


def _floats(records: list[dict], column: str) -> np.ndarray:
    """``column`` of ``records`` as float64 (None, NaN and NA → NaN). A list built here rather than a nullable
    pandas array per coin and column (156 calls for the bench's 52 coins: the table 5.0 -> 2.1 ms)."""
    return np.array([np.nan if pd.isna(value := r[column]) else float(value) for r in records], dtype="float64")


def cross_venue_columns(venues: Iterable[str]) -> list[dict]:
    """AG Grid column definitions of the cross-venue table for ``venues`` (one column per exchange, its tooltip in
    ``<exchange>_tip``); the coin cell links to the Overview (``CoinLink``, assets/dashAgGridComponentFunctions.js)."""
    venue_cols = tuple((v, f"{v} (% / yr)", 115) for v in venues)
    defs = grid("markets-cross-template", CROSS_LEAD + venue_cols + CROSS_TAIL).columnDefs
    extra = {"coin": {"cellRenderer": "CoinLink", "pinned": "left"}, "oi_value": {"sort": "desc", **OI_FORMAT},
             **{v: {"tooltipField": f"{v}_tip", "headerTooltip": f"funding on {v}, annualised with its own interval"}
                for v in venues}}  # fmt: skip
    return [{**d, **extra.get(d["field"], {})} for d in defs]


def arbitrage_rows(spreads: pd.DataFrame) -> list[dict]:
    """Rows of the arbitrage ranking from ``funding_spreads`` (one row per coin), largest spread first; each keeps
    ``pair`` (``coin|long|short``) for the spread history chart."""
    rows = [
        {"coin": r.coin, "long_exchange": r.long_exchange, "short_exchange": r.short_exchange,
         "pair": f"{r.coin}|{r.long_exchange}|{r.short_exchange}",
         "spread_pct": _num(r.spread_annualised * 100, 3), "spread_bp_8h": _num(r.spread_bp_8h, 3),
         "long_pct": _num(r.long_annualised * 100, 3), "short_pct": _num(r.short_annualised * 100, 3),
         "long_interval_h": _num(r.long_interval_hours, 2), "short_interval_h": _num(r.short_interval_hours, 2),
         "long_next": _time(r.long_next_funding_time), "short_next": _time(r.short_next_funding_time),
         "oi_value": _num(r.open_interest_value, 0)}
        for r in spreads.itertuples(index=False)
    ]  # fmt: skip
    rows.sort(key=lambda r: (r["spread_pct"] is None, -(r["spread_pct"] or 0), r["coin"]))
    return rows


def accumulated_rows(accumulated: pd.DataFrame) -> list[dict]:
    """Rows of the accumulated-funding table from ``accumulated_funding`` (one row per coin + exchange): the sum of
    settled rates in % (what a 1-unit long paid: positive = longs paid shorts), the number of settlements, the
    interval and the annualised equivalent (%/yr), largest accumulated first."""
    rows = [
        {"coin": r.coin, "exchange": r.exchange, "symbol": display_symbol(r.symbol),
         "accumulated_pct": _num(r.accumulated * 100, 4), "settlements": int(r.settlements),
         "interval_h": _num(r.funding_interval_hours, 2), "annualised_pct": _num(r.annualised * 100, 3)}
        for r in accumulated.itertuples(index=False)
    ]  # fmt: skip
    rows.sort(key=lambda r: (r["accumulated_pct"] is None, -(r["accumulated_pct"] or 0), r["coin"], r["exchange"]))
    return rows
