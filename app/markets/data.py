"""What the Markets page reads, through the shared cache (:func:`app.refresh.cached_view`): one entry per view and
fingerprint for the market-wide tables and charts, one per coin + venue pair for a spread's history.

Every function opens its own read connection on a cache miss and raises SQLAlchemy's errors when the database is
unreachable (the page shows a message). Frames are those of ``db.queries.markets``, ``db.queries.heatmap``,
``db.queries.accumulated``, ``db.queries.premium`` and ``db.queries.open_interest_series`` (columns and units
documented there).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection

from app.api import pairs as cached_pairs
from app.api import symbol_list
from app.controls import ViewState
from app.dashboard import read_connection
from app.reads import read_all
from app.refresh import cached_view
from db import queries
from db.coins import coin_of, symbols_of_coin
from db.queries.accumulated import accumulated_funding
from db.queries.heatmap import funding_heatmap
from db.queries.markets import (
    SNAPSHOT_COLUMNS,
    SNAPSHOT_STALENESS,
    funding_snapshot,
    spread_history,
    spreads_of_snapshot,
)
from db.queries.premium import premium_series

#: Heatmap bucket width by window length: at most ~100 columns (the first width whose window is at least as long).
HEATMAP_BUCKETS = (
    (timedelta(hours=6), timedelta(minutes=15)), (timedelta(hours=24), timedelta(hours=1)),
    (timedelta(days=7), timedelta(hours=4)), (timedelta(days=30), timedelta(hours=8)),
)  # fmt: skip
#: Heatmap bucket of longer windows.
HEATMAP_LONGEST = timedelta(days=1)


def heatmap_bucket(start: datetime, end: datetime) -> timedelta:
    """The heatmap's bucket width for ``[start, end)`` (:data:`HEATMAP_BUCKETS`)."""
    return next((width for span, width in HEATMAP_BUCKETS if end - start <= span), HEATMAP_LONGEST)


def newest_funding(conn: Connection) -> datetime | None:
    """The newest funding time of any pair (the cached ``list_symbols`` catalogue, UTC), or None without data."""
    listed = symbol_list(conn)
    newest = listed["last_time"].max() if len(listed) else None
    return None if newest is None or pd.isna(newest) else newest.to_pydatetime()


def selected_symbols(conn: Connection, state: ViewState, exchanges: list[str] | None) -> list[str]:
    """Every symbol with data (on ``exchanges``; None = all) of the coins of the view's chosen symbols."""
    known = [s for e, s in cached_pairs(conn) if exchanges is None or e in exchanges]
    coins = dict.fromkeys(coin_of(s).name for s in state.symbols)
    return sorted({s for c in coins for s in symbols_of_coin(c, known)})


def market_view(state: ViewState, start: datetime, end: datetime, fp) -> dict:
    """Everything the page draws for the view over ``[start, end)`` (snapshot and spreads as of ``end``), cached:
    ``snapshot``, ``spreads`` (frames; ``spreads`` None when the snapshot is empty: nothing to rank, the page draws
    no table), ``newest`` (None unless the snapshot is empty: the newest funding time). The snapshot is not read
    when the newest funding time of any pair (:func:`newest_funding`, the cached catalogue) is older than its
    staleness window (a live view while only older history is stored), and the spreads come from the snapshot
    read (``spreads_of_snapshot``), not from a second read."""

    def compute():
        exchanges = list(state.exchanges) or None
        with read_connection() as conn:
            newest = newest_funding(conn)
            if newest is None or newest <= end - SNAPSHOT_STALENESS:  # no row in the snapshot's (since, end]: no read
                return {"snapshot": pd.DataFrame(columns=SNAPSHOT_COLUMNS), "spreads": None, "newest": newest}
            snapshot = funding_snapshot(conn, exchanges, None, end)
            if snapshot.empty:  # a live view while only older history is stored: the page falls back or says so
                return {"snapshot": snapshot, "spreads": None, "newest": newest}
            return {"snapshot": snapshot, "spreads": spreads_of_snapshot(snapshot), "newest": None}

    return cached_view("markets-now", state, start, end, compute, fp)


def window_view(state: ViewState, start: datetime, end: datetime, coins: list[str], fp) -> dict:
    """The range's series for ``coins`` (the table's): ``heatmap`` (bucket :func:`heatmap_bucket`, the view's venue
    or every venue weighted by open interest) and ``accumulated``, read at once, cached."""

    def compute():  # both reads at once, each on its own connection (app.reads)
        exchanges = list(state.exchanges) or None
        return read_all({
            "heatmap": lambda c: funding_heatmap(c, state.venue or None, coins, start, end, heatmap_bucket(start, end)),
            "accumulated": lambda c: accumulated_funding(c, exchanges, coins, start, end),
        })  # fmt: skip

    return cached_view("markets-window", state, start, end, compute, tuple(coins), state.venue, fp)


def pair_view(state: ViewState, start: datetime, end: datetime, fp) -> dict:
    """For the coins of the chosen symbols (:func:`selected_symbols`), ``premium`` and ``open_interest`` over the
    range (bucket ``db.queries.choose_bucket``, in ``bucket``), read at once, cached; both None without chosen
    symbols (then without a read). They depend on the view only, not on the snapshot, so the draw reads them
    beside it."""
    if not state.symbols:
        return {"premium": None, "open_interest": None, "bucket": queries.choose_bucket(start, end)}

    def compute():
        exchanges = list(state.exchanges) or None
        bucket = queries.choose_bucket(start, end)
        with read_connection() as conn:
            symbols = selected_symbols(conn, state, exchanges)
        if not symbols:
            return {"premium": None, "open_interest": None, "bucket": bucket}
        pair_args = (exchanges, symbols, start, end, bucket)
        return {**read_all({"premium": lambda c: premium_series(c, *pair_args),
                            "open_interest": lambda c: queries.open_interest_series(c, *pair_args)}),
                "bucket": bucket}  # fmt: skip

    return cached_view("markets-pairs", state, start, end, compute, fp)


def spread_view(state: ViewState, start: datetime, end: datetime, pair: tuple[str, str, str]) -> pd.DataFrame:
    """``spread_history`` of ``pair`` (coin, long exchange, short exchange) over ``[start, end)``, cached."""

    def compute():
        with read_connection() as conn:
            return spread_history(conn, *pair, start, end)

    return cached_view("markets-spread", state, start, end, compute, pair)
