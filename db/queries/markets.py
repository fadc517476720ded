"""Market-wide funding now: the newest rate of every coin on every venue, and the venue pair of each coin whose
annualised funding differs most (issue 8, items 5 and 6).

Annualised funding (a fraction per year) = rate × :data:`HOURS_PER_YEAR` / the row's own
``funding_interval_hours``: the rate is a fraction per funding interval (ccxt ``fundingRate``, "the rate for
the current period", ccxt manual, funding rate structure) and 8,760 / interval settlements fall in a 365-day
year; simple, not compounded (the convention of CoinGlass and the venues' own "annualised" figures). An hourly
venue's 0.00125 % and an 8-hour venue's 0.01 % are both 10.95 %/yr.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.queries.common import check_range, connected, fetch_frame, require_aware
from db.queries.newest import newest_rows
from db.queries.pairs import funding_pairs, with_coins

#: Hours in a 365-day year: annualised = rate × HOURS_PER_YEAR / funding_interval_hours.
HOURS_PER_YEAR = 8760.0
#: 8-hour funding intervals in a year (8,760 / 8): an annualised fraction / 1095 × 1e4 = basis points per 8 h.
INTERVALS_8H_PER_YEAR = 1095.0
#: A pair whose newest funding row is older than this before ``at`` is left out of the snapshot (a delisted
#: market or a dead feed; three 8-hour intervals); open interest older than this counts as unknown.
SNAPSHOT_STALENESS = timedelta(hours=24)

SNAPSHOT_COLUMNS = [
    "coin", "exchange", "symbol", "multiplier", "time", "funding_rate", "funding_interval_hours", "annualised",
    "next_funding_time", "settled", "mark_price", "index_price", "premium_bp", "open_interest_value",
]  # fmt: skip

SPREAD_COLUMNS = [
    "coin", "long_exchange", "short_exchange", "long_symbol", "short_symbol", "long_annualised",
    "short_annualised", "spread_annualised", "spread_bp_8h", "long_interval_hours", "short_interval_hours",
    "long_next_funding_time", "short_next_funding_time", "open_interest_value", "venues",
]  # fmt: skip


def annualise(rate, interval_hours):
    """``rate`` (fraction per funding interval) × 8,760 / ``interval_hours`` (hours): a fraction per year (module
    docstring). Works on floats, numpy arrays and pandas Series alike (NaN where the interval is unknown)."""
    return rate * HOURS_PER_YEAR / interval_hours


def funding_snapshot(
    engine: Engine | Connection,
    exchanges: Sequence[str] | None,
    coins: Sequence[str] | None,
    at: datetime | None = None,
) -> pd.DataFrame:
    """The newest funding row at or before ``at`` (aware UTC; None = now) of every perpetual of ``coins`` (coin
    names, :func:`db.coins.coin_of`; None = all) on ``exchanges`` (ccxt ids; None = all) with funding data,
    within :data:`SNAPSHOT_STALENESS` before ``at`` (older pairs are left out).

    One row per (coin, exchange, symbol), sorted by coin, exchange, symbol. Columns: ``coin``, ``exchange``,
    ``symbol`` (ccxt unified), ``multiplier`` (coins per contract base unit: 1000 for ``1000PEPE``), ``time``
    (UTC: settlement time of a settled row, observation time of a predicted one), ``funding_rate`` (fraction per
    funding interval), ``funding_interval_hours`` (the row's own, else that of the pair's newest settled row
    stating one; NaN when none does), ``annualised`` (fraction per year, :func:`annualise`; NaN without an
    interval), ``next_funding_time`` (UTC: the exchange's for a predicted row; for a settled row its time + the
    interval, derived), ``settled`` (bool: True = a settled rate, False = the predicted rate of the current
    period; the newer of the two, predicted on a tie), ``mark_price``, ``index_price`` (of that row, quote
    currency per contract base unit; NaN when the row has none), ``premium_bp`` ((mark − index) / index × 1e4,
    basis points; NaN without both), ``open_interest_value`` (quote-currency notional of the pair's newest
    ``open_interest`` row in the same window; NaN if none). Read from the summary tables, probing raw rows only
    for pairs with rows after ``at`` (:mod:`db.queries.newest`). Raises ``ValueError`` for a naive ``at``."""
    at = datetime.now(UTC) if at is None else at
    require_aware(at=at)
    since = at - SNAPSHOT_STALENESS
    with connected(engine) as conn:
        raw = newest_rows(conn, exchanges, at, since)
    out = with_coins(raw, coins)
    for col in ("funding_rate", "funding_interval_hours", "mark_price", "index_price", "open_interest_value"):
        out[col] = out[col].to_numpy(dtype="float64", na_value=np.nan)
    out["settled"] = out["settled"].astype(bool)
    out["annualised"] = annualise(out["funding_rate"], out["funding_interval_hours"])
    derived = out["time"] + pd.to_timedelta(out["funding_interval_hours"], unit="h")
    out["next_funding_time"] = out["next_funding_time"].where(~out["settled"], derived)
    out["premium_bp"] = (out["mark_price"] - out["index_price"]) / out["index_price"] * 1e4
    return out[SNAPSHOT_COLUMNS].reset_index(drop=True)


def funding_spreads(
    engine: Engine | Connection,
    exchanges: Sequence[str] | None,
    coins: Sequence[str] | None,
    at: datetime | None = None,
) -> pd.DataFrame:
    """Per coin quoted on at least two venues in :func:`funding_snapshot` (same arguments), the pair of venues whose
    annualised funding differs most: long where funding is lower (a long there pays least or is paid most),
    short where it is higher.

    Columns: ``coin``, ``long_exchange``, ``short_exchange``, ``long_symbol``, ``short_symbol``,
    ``long_annualised``, ``short_annualised`` (fractions per year), ``spread_annualised`` (short − long, ≥ 0,
    fraction per year), ``spread_bp_8h`` (``spread_annualised`` / 1095 × 1e4: basis points per 8 hours),
    ``long_interval_hours``, ``short_interval_hours``, ``long_next_funding_time``, ``short_next_funding_time``
    (UTC, as in the snapshot), ``open_interest_value`` (sum over the coin's venues in the snapshot, quote
    currency; NaN when none is known), ``venues`` (snapshot rows of the coin with an annualised rate). Rows
    without a known interval take no part. The two legs are always on different exchanges (a venue listing a
    coin twice, e.g. USDT and USDC, is one venue). Sorted by ``spread_annualised`` descending, then coin."""
    snap = funding_snapshot(engine, exchanges, coins, at)
    return spreads_of_snapshot(snap)


def spreads_of_snapshot(snap: pd.DataFrame) -> pd.DataFrame:
    """:func:`funding_spreads` of an already read :func:`funding_snapshot` frame (pure; e.g. a page that shows
    both reads the snapshot once). Every ordered pair of a coin's rated rows is a candidate; the widest wins, ties
    to the first exchanges by name, then to the snapshot's row order. In numpy over integer codes (a pandas
    self-merge and sort cost ~5 ms for 1,800 rows)."""
    rated = snap[snap["annualised"].notna()]
    coin_at, coins = pd.factorize(rated["coin"], sort=True)
    exchange_at = pd.factorize(rated["exchange"], sort=True)[0]
    value = rated["annualised"].to_numpy(dtype="float64")
    legs, (long, short) = np.argsort(coin_at, kind="stable"), _coin_pairs(np.bincount(coin_at, minlength=len(coins)))
    long, short = legs[long], legs[short]
    keep = (exchange_at[long] != exchange_at[short]) & (value[short] >= value[long])
    long, short = long[keep], short[keep]
    spread = value[short] - value[long]
    ranked = np.lexsort((short, long, exchange_at[short], exchange_at[long], -spread, coin_at[long]))
    ranked = ranked[np.r_[True, np.diff(coin_at[long][ranked]) != 0]] if len(ranked) else ranked  # first per coin
    ranked = ranked[np.lexsort((coin_at[long][ranked], -spread[ranked]))]  # widest first, then coin
    long, short, spread = long[ranked], short[ranked], spread[ranked]

    def leg(column: str, at: np.ndarray) -> np.ndarray:
        return rated[column].to_numpy()[at]

    out = pd.DataFrame({
        "coin": leg("coin", long), "long_exchange": leg("exchange", long), "short_exchange": leg("exchange", short),
        "long_symbol": leg("symbol", long), "short_symbol": leg("symbol", short), "long_annualised": value[long],
        "short_annualised": value[short], "spread_annualised": spread,
    })  # fmt: skip
    out["spread_bp_8h"] = out["spread_annualised"] / INTERVALS_8H_PER_YEAR * 1e4
    for side, at in (("long", long), ("short", short)):
        out[f"{side}_interval_hours"] = leg("funding_interval_hours", at)
    for side, at in (("long", long), ("short", short)):
        out[f"{side}_next_funding_time"] = pd.to_datetime(rated["next_funding_time"].array[at], utc=True)
    oi = snap.groupby("coin")["open_interest_value"].sum(min_count=1)
    out["open_interest_value"] = oi.reindex(out["coin"]).to_numpy(dtype="float64")
    out["venues"] = np.bincount(coin_at, minlength=len(coins))[coin_at[long]].astype(np.int64)
    return out[SPREAD_COLUMNS]


def _coin_pairs(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair ``(i, j)`` of positions within the same block, for consecutive blocks of ``sizes``
    (positions numbered across blocks), in ``i``, then ``j`` order."""
    starts = np.cumsum(sizes) - sizes
    block = np.repeat(np.arange(len(sizes)), sizes)  # block of each position
    width = sizes[block]
    first = np.repeat(np.arange(len(block)), width)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(width) - width, width)
    return first, starts[block[first]] + offset


#: Longest funding interval read past the range's end (rows up to ``end`` + this are planned; the widest interval of
#: the two legs, read in the same statement, bounds them exactly): no venue settles less often than every 8 hours.
SPREAD_REACH = timedelta(days=7)

#: In one statement (one plan over the range's chunks): the settled rows of both legs (a primary-key range scan each)
#: from ``start`` up to ``end`` + :data:`SPREAD_REACH`; the width = the widest interval of those before ``end``;
#: the rows bucketed by the start of the period each settlement paid for (settlement time − its interval; 30 s of
#: tolerance for settlement-time jitter such as Binance's few ms either side) among those before ``end`` + the
#: width, each leg's bucket value the mean annualised rate of its settlements there; only buckets holding both legs.
_SPREAD_HISTORY_SQL = """
WITH legs AS MATERIALIZED (
    SELECT time, funding_rate, funding_interval_hours, true AS is_long FROM funding_rates
    WHERE exchange = :long_exchange AND symbol = :long_symbol AND settled AND time >= :start AND time < :reach_end
    UNION ALL
    SELECT time, funding_rate, funding_interval_hours, false FROM funding_rates
    WHERE exchange = :short_exchange AND symbol = :short_symbol AND settled AND time >= :start AND time < :reach_end),
w AS (SELECT max(funding_interval_hours) * interval '1 hour' AS width FROM legs WHERE time < :end)
SELECT * FROM (
    SELECT time_bucket(w.width, l.time - l.funding_interval_hours * interval '1 hour' + interval '30 seconds') AS time,
           avg(l.funding_rate * :year / l.funding_interval_hours) FILTER (WHERE l.is_long) AS long_annualised,
           avg(l.funding_rate * :year / l.funding_interval_hours) FILTER (WHERE NOT l.is_long) AS short_annualised,
           count(*) FILTER (WHERE l.is_long) AS long_settlements,
           count(*) FILTER (WHERE NOT l.is_long) AS short_settlements
    FROM legs l CROSS JOIN w
    WHERE l.funding_interval_hours IS NOT NULL AND l.time < :end + w.width
    GROUP BY 1) AS b
WHERE time >= :start AND time < :end AND long_settlements > 0 AND short_settlements > 0
ORDER BY time
"""

HISTORY_COLUMNS = ["time", "long_annualised", "short_annualised", "spread_annualised", "long_settlements",
                   "short_settlements"]  # fmt: skip


def coin_symbol(pairs: pd.DataFrame, coin: str, exchange: str) -> str | None:
    """The symbol of ``coin`` on ``exchange`` among :func:`~db.queries.pairs.funding_pairs` rows ``pairs``: the one
    with the newest funding row when a venue lists the coin more than once (USDT and USDC); None if it has none."""
    wanted = coin.strip().upper()
    listed = [(t, s) for c, e, s, t in zip(pairs["coin"], pairs["exchange"], pairs["symbol"], pairs["last_time"],
                                           strict=True) if c == wanted and e == exchange]  # fmt: skip
    return min(listed, key=lambda row: (-row[0].value, row[1]))[1] if listed else None


def spread_history(
    engine: Engine | Connection, coin: str, long_exchange: str, short_exchange: str, start: datetime, end: datetime
) -> pd.DataFrame:
    """The settled history over ``[start, end)`` (funding periods, aware UTC) of the funding spread of ``coin``
    between a long on ``long_exchange`` and a short on ``short_exchange`` (ccxt ids; the coin's symbol on each by
    :func:`coin_symbol`).

    Alignment of venues with different intervals: the grid is ``time_bucket`` of the widest settled interval of
    the two legs in the range (8 h for an hourly venue against an 8-hour one; origin 2000-01-03 00:00 UTC, so
    8-hour buckets start at 00, 08, 16 UTC); each settlement falls in the bucket of the period it paid for
    (settlement time − its interval, with 30 s tolerance for timestamp jitter), so Binance's 08:00 settlement
    and Hyperliquid's 01:00 … 08:00 ones all land in the 00:00 bucket; each leg's value is the mean annualised
    rate (:func:`annualise`, the row's own interval) of its settlements in the bucket. Buckets starting in
    ``[start, end)`` (so settlements up to ``end`` + the width are read) where both legs settled.

    Columns: ``time`` (bucket start = start of the funding period covered, UTC), ``long_annualised``,
    ``short_annualised``, ``spread_annualised`` (short − long; fractions per year; negative when the chosen short
    venue paid less), ``long_settlements``, ``short_settlements`` (rows averaged). Empty when either venue has no
    funding for the coin. One statement after the coin's symbols are resolved (:data:`_SPREAD_HISTORY_SQL`; intervals
    up to :data:`SPREAD_REACH`). Raises ``ValueError`` for a bad range or the same exchange on both legs."""
    check_range(start, end)
    if long_exchange == short_exchange:
        raise ValueError(f"long and short exchange are both {long_exchange!r}")
    with connected(engine) as conn:
        pairs = funding_pairs(conn, [long_exchange, short_exchange], [coin])
        long_symbol, short_symbol = coin_symbol(pairs, coin, long_exchange), coin_symbol(pairs, coin, short_exchange)
        params = {"long_exchange": long_exchange, "long_symbol": long_symbol, "short_exchange": short_exchange,
                  "short_symbol": short_symbol, "start": start, "end": end}  # fmt: skip
        stmt = text(_SPREAD_HISTORY_SQL).bindparams(**params, reach_end=end + SPREAD_REACH, year=HOURS_PER_YEAR)
        frame = fetch_frame(conn, stmt, ["time"]) if long_symbol and short_symbol else None
    if frame is None or frame.empty:
        return pd.DataFrame({"time": pd.Series(dtype="datetime64[us, UTC]"),
                             **{c: pd.Series(dtype="float64") for c in HISTORY_COLUMNS[1:4]},
                             **{c: pd.Series(dtype="int64") for c in HISTORY_COLUMNS[4:]}})
    for col in ("long_annualised", "short_annualised"):
        frame[col] = frame[col].astype("float64")
    for col in ("long_settlements", "short_settlements"):
        frame[col] = frame[col].astype("int64")
    frame["spread_annualised"] = frame["short_annualised"] - frame["long_annualised"]
    return frame[HISTORY_COLUMNS]
