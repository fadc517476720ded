"""Market-wide funding reads (issue 8, items 5-9) on the bundled cross-venue history (``recorded_engine``: Binance,
Bybit, OKX at 8 h and 4 h, Hyperliquid hourly, open interest): every value is compared with SQL run directly on
the tables (or pandas over raw rows), never a hard-coded result."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db.coins import coin_of
from db.queries import (
    accumulated_funding,
    funding_heatmap,
    funding_snapshot,
    funding_spreads,
    heatmap_venue_values,
    spread_history,
)
from db.queries.markets import SNAPSHOT_STALENESS
from ingest.recorded import VENUES as RECORDED_VENUES

#: The bundled cross-venue data's venues (ccxt ids).
VENUES = {v.exchange for v in RECORDED_VENUES.values()}


def sql(conn, query: str, **params) -> pd.DataFrame:
    result = conn.execute(text(query), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in frame.columns:
        if col == "time" or col.endswith("_time"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


@pytest.fixture
def conn(recorded_engine):
    with recorded_engine.connect() as c:
        yield c


@pytest.fixture(scope="module")
def at(recorded_engine):
    """Four hours after the newest bundled settlement (open interest of every venue was recorded by then)."""
    with recorded_engine.connect() as c:
        return c.execute(text("SELECT max(time) FROM funding_rates")).scalar_one() + timedelta(hours=4)


_NEWEST_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, settled, funding_rate, funding_interval_hours,
       funding_rate * 8760 / funding_interval_hours AS annualised
FROM funding_rates WHERE time <= :at AND time > :since ORDER BY exchange, symbol, time DESC, settled
"""
_NEWEST_OI_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, open_interest_value FROM open_interest
WHERE time <= :at AND time > :since AND open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC
"""


def _expected_snapshot(conn, at) -> pd.DataFrame:
    params = {"at": at, "since": at - SNAPSHOT_STALENESS}
    rows = sql(conn, _NEWEST_SQL, **params).merge(sql(conn, _NEWEST_OI_SQL, **params), how="left")
    rows["coin"] = [coin_of(s).name for s in rows["symbol"]]
    return rows.sort_values(["coin", "exchange", "symbol"], ignore_index=True)


@pytest.mark.parametrize("days_back", [0, 3])
def test_snapshot_equals_the_newest_rows_in_sql(conn, recorded_engine, at, days_back):
    """Live (``at`` after every row: read from the summary tables) and a view of the past (``at`` before the
    newest rows: those pairs probed in the raw rows) alike."""
    at = at - timedelta(days=days_back)
    got = funding_snapshot(recorded_engine, None, None, at)
    expected = _expected_snapshot(conn, at)
    assert len(got) == len(expected) >= 20 and set(got["exchange"]) == VENUES
    for col in ("coin", "exchange", "symbol", "time", "settled"):
        assert got[col].tolist() == expected[col].tolist(), col
    for col in ("funding_rate", "funding_interval_hours", "annualised", "open_interest_value"):
        np.testing.assert_allclose(got[col].to_numpy(), expected[col].astype(float).to_numpy(), rtol=1e-12)
    # settled rows: next funding = settlement + the pair's own interval (1 h on Hyperliquid, 4 h or 8 h elsewhere)
    derived = expected["time"] + pd.to_timedelta(expected["funding_interval_hours"].astype(float), unit="h")
    assert (got["next_funding_time"] == derived).all()
    assert set(got["funding_interval_hours"]) == {1.0, 4.0, 8.0}
    # the same answer through an open connection, and a coin / exchange filter
    again = funding_snapshot(conn, ["hyperliquid"], ["btc", "eth"], at)
    assert again["symbol"].tolist() == ["BTC/USDC:USDC", "ETH/USDC:USDC"]
    assert funding_snapshot(recorded_engine, None, ["NOSUCHCOIN"], at).empty


@pytest.mark.parametrize(("exchange", "interval", "neutral"),
                         [("hyperliquid", 1.0, 0.0000125), ("okx", 4.0, 0.00005), ("bybit", 8.0, 0.0001)])  # fmt: skip
def test_annualisation_uses_each_venues_own_interval(conn, recorded_engine, exchange, interval, neutral):
    """The neutral base rate (0.01 % per 8 h) is 10.95 %/yr whatever the interval it is quoted in."""
    row = conn.execute(text(
        "SELECT time, symbol FROM funding_rates WHERE exchange = :e AND settled AND funding_interval_hours = :h "
        "AND funding_rate = :r ORDER BY time DESC LIMIT 1"), {"e": exchange, "h": interval, "r": neutral}).one()
    got = funding_snapshot(recorded_engine, [exchange], [coin_of(row.symbol).name], row.time)
    assert len(got) == 1 and got["funding_interval_hours"].iloc[0] == interval
    assert got["annualised"].iloc[0] == pytest.approx(0.1095, rel=1e-12)
    assert got["next_funding_time"].iloc[0] == pd.Timestamp(row.time) + pd.Timedelta(hours=interval)


def test_spreads_are_the_widest_venue_pair_of_each_coin(conn, recorded_engine, at):
    got = funding_spreads(recorded_engine, None, None, at)
    snap = _expected_snapshot(conn, at)
    assert len(got) == snap["coin"].nunique() == 5
    assert got["spread_annualised"].is_monotonic_decreasing
    for row in got.itertuples():
        legs = snap[snap["coin"] == row.coin]
        low, high = legs.loc[legs["annualised"].idxmin()], legs.loc[legs["annualised"].idxmax()]
        assert (row.long_exchange, row.short_exchange) == (low["exchange"], high["exchange"])
        assert row.spread_annualised == pytest.approx(high["annualised"] - low["annualised"], rel=1e-12)
        assert row.spread_bp_8h == pytest.approx(row.spread_annualised / 1095 * 1e4, rel=1e-12)
        assert (row.long_interval_hours, row.short_interval_hours) == (low["funding_interval_hours"],
                                                                       high["funding_interval_hours"])
        assert row.open_interest_value == pytest.approx(legs["open_interest_value"].astype(float).sum(), rel=1e-12)
        assert row.venues == len(legs)


@pytest.mark.parametrize(("long", "short", "width", "per_bucket"), [
    ("hyperliquid", "binanceusdm", "8h", (8, 1)),  # hourly against 8-hourly: the 8-hour grid
    ("hyperliquid", "dydx", "1h", (1, 1)),  # both hourly: the 1-hour grid
])  # fmt: skip
def test_spread_history_aligns_settlements_with_the_widest_interval(conn, recorded_engine, at, long, short, width,
                                                                    per_bucket):
    start, end = at - timedelta(days=5, hours=4), at - timedelta(hours=4)
    got = spread_history(recorded_engine, "BTC", long, short, start, end)
    raw = sql(conn, "SELECT exchange, time, funding_rate * 8760 / funding_interval_hours AS a, funding_interval_hours "
                    "FROM funding_rates WHERE settled AND symbol LIKE 'BTC/%' AND exchange IN (:l, :s) "
                    "AND time >= :a AND time < :b", l=long, s=short, a=start, b=end + pd.Timedelta(width))  # fmt: skip
    # the period a settlement paid for starts one interval earlier; jitter of a few ms is rounded away
    period = (raw["time"] - pd.to_timedelta(raw["funding_interval_hours"].astype(float), unit="h")).dt.round("1min")
    raw["bucket"] = period.dt.floor(width)
    means = raw.pivot_table(index="bucket", columns="exchange", values="a", aggfunc="mean").dropna()
    counts = raw.pivot_table(index="bucket", columns="exchange", values="a", aggfunc="size")
    means = means[(means.index >= start) & (means.index < end)]
    assert len(got) == len(means) >= 14
    assert got["time"].tolist() == means.index.tolist()
    np.testing.assert_allclose(got["long_annualised"], means[long], rtol=1e-12)
    np.testing.assert_allclose(got["short_annualised"], means[short], rtol=1e-12)
    np.testing.assert_allclose(got["spread_annualised"], means[short] - means[long], rtol=1e-12)
    assert got["long_settlements"].tolist() == counts.loc[means.index, long].tolist()
    assert (set(got["long_settlements"]), set(got["short_settlements"])) == ({per_bucket[0]}, {per_bucket[1]})
    with pytest.raises(ValueError):
        spread_history(recorded_engine, "BTC", "okx", "okx", start, end)
    assert spread_history(recorded_engine, "NOSUCHCOIN", "okx", "bybit", start, end).empty


@pytest.mark.parametrize("shift", [timedelta(0), timedelta(hours=5, minutes=7)])
def test_accumulated_funding_equals_sql_sums(conn, recorded_engine, at, shift):
    """Whole days and hours from the settled rollups, partial hours at the ends (``shift``) from raw rows."""
    start, end = at - timedelta(days=30) - shift, at - shift
    got = accumulated_funding(recorded_engine, None, None, start, end)
    expected = sql(conn, "SELECT exchange, symbol, sum(funding_rate) AS s, count(*) AS n FROM funding_rates "
                         "WHERE settled AND time >= :a AND time < :b GROUP BY 1, 2", a=start, b=end)  # fmt: skip
    merged = got.merge(expected, on=["exchange", "symbol"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == 5 * len(VENUES)  # 5 coins
    np.testing.assert_allclose(merged["accumulated"], merged["s"].astype(float), rtol=1e-12)
    assert merged["settlements"].tolist() == merged["n"].tolist()
    np.testing.assert_allclose(merged["annualised"], merged["s"].astype(float) * 8760 / (30 * 24), rtol=1e-12)
    last = sql(conn, "SELECT DISTINCT ON (exchange, symbol) exchange, symbol, funding_interval_hours AS h, "
                     "time AS last_time FROM funding_rates WHERE settled AND time >= :a AND time < :b "
                     "ORDER BY exchange, symbol, time DESC", a=start, b=end)  # fmt: skip
    merged = got.merge(last, on=["exchange", "symbol"])
    assert (merged["last_time_x"] == merged["last_time_y"]).all() and len(merged) == len(got)
    assert (merged["funding_interval_hours"] == merged["h"].astype(float)).all()
    # each venue settles once per its own interval (1 h, 4 h, 8 h) between its first and last settlement; the
    # recorded Kraken and Lighter series miss some hours (data/recorded/PROVENANCE.md), so they have fewer
    slots = (got["last_time"] - got["first_time"]).dt.total_seconds() / 3600 / got["funding_interval_hours"]
    whole = got["exchange"].isin(["binanceusdm", "bybit", "okx", "hyperliquid"])
    assert (slots[whole].round() + 1 == got.loc[whole, "settlements"]).all()
    assert (got["settlements"] <= slots.round() + 1).all()
    assert set(got["funding_interval_hours"]) == {1.0, 4.0, 8.0}


@pytest.mark.parametrize(("days", "hours", "minutes"), [(0, 0, 40), (0, 17, 0), (3, 0, 0), (2, 9, 1), (12, 23, 59)])
def test_accumulated_funding_of_any_window_equals_sql_sums(conn, recorded_engine, at, days, hours, minutes):
    """Windows read from raw rows only (40 min), from 8 h, 4 h and 1 h periods (17 h), whole days only (3 d) and
    every kind of piece (the rest), ending at 00 UTC (3 d: whole days only) and off the hour (the 40 minutes then
    hold an hourly settlement)."""
    hour = (at - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    for first, end in ((True, hour + timedelta(minutes=30)), (False, hour.replace(hour=0))):
        start = end - timedelta(days=days, hours=hours, minutes=minutes)
        got = accumulated_funding(recorded_engine, None, None, start, end)
        expected = sql(conn, "SELECT exchange, symbol, sum(funding_rate) AS s, count(*) AS n, min(time) AS first_time, "
                             "max(time) AS last_time FROM funding_rates WHERE settled AND time >= :a AND time < :b "
                             "GROUP BY 1, 2 ORDER BY 1, 2", a=start, b=end)  # fmt: skip
        merged = got.merge(expected, on=["exchange", "symbol"], how="outer", indicator=True)
        assert (merged["_merge"] == "both").all() and (len(merged) > 0 or not first)
        np.testing.assert_allclose(merged["accumulated"], merged["s"].astype(float), rtol=1e-12)
        assert merged["settlements"].tolist() == merged["n"].tolist()
        assert (merged["first_time_x"] == merged["first_time_y"]).all()
        assert (merged["last_time_x"] == merged["last_time_y"]).all()



@pytest.mark.parametrize(("exchanges", "coins"), [(["okx", "bybit"], None), (None, ["eth", "BTC"]),
                                                  (["hyperliquid"], ["NOSUCHCOIN"])])  # fmt: skip
def test_accumulated_funding_of_a_selection_equals_sql_sums(conn, recorded_engine, at, exchanges, coins):
    """The selection read with the catalogue in the same statement (venues, coins, both; none matching: an empty
    frame typed as a full one) holds the raw rows' sums of exactly the chosen pairs, sorted by coin, venue."""
    start, end = at - timedelta(days=9, hours=5), at - timedelta(hours=3)
    got = accumulated_funding(recorded_engine, exchanges, coins, start, end)
    expected = sql(conn, "SELECT exchange, symbol, sum(funding_rate) AS s, count(*) AS n FROM funding_rates "
                         "WHERE settled AND time >= :a AND time < :b GROUP BY 1, 2", a=start, b=end)  # fmt: skip
    expected["coin"] = [coin_of(s).name for s in expected["symbol"]]
    keep = expected["exchange"].isin(exchanges or VENUES)
    keep &= expected["coin"].isin([c.upper() for c in coins]) if coins else True
    expected = expected[keep].sort_values(["coin", "exchange", "symbol"], ignore_index=True)
    keys = ["coin", "exchange", "symbol"]
    assert got[keys].to_numpy().tolist() == expected[keys].to_numpy().tolist()
    assert len(got) > 0 or coins == ["NOSUCHCOIN"]
    np.testing.assert_allclose(got["accumulated"], expected["s"].astype(float), rtol=1e-12)
    assert got["settlements"].tolist() == expected["n"].tolist()
    full = accumulated_funding(recorded_engine, None, None, start, end)
    typed = ["coin", "exchange", "symbol", "accumulated", "settlements", "annualised"]
    assert got[typed].dtypes.equals(full[typed].dtypes)

_CELLS_SQL = """
SELECT exchange, symbol, time_bucket(:w, time) AS time, avg(funding_rate * 8760 / funding_interval_hours) AS a
FROM funding_rates WHERE settled AND time >= :a AND time < :b GROUP BY 1, 2, 3
"""
_WEIGHTS_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, open_interest_value AS w FROM open_interest
WHERE time >= :a AND time < :b AND open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC
"""


@pytest.mark.parametrize(("width", "shift"), [(timedelta(days=1), None), (timedelta(hours=8), None),
                                              (timedelta(hours=4), timedelta(hours=5, minutes=7)),
                                              (timedelta(days=7), None), (timedelta(minutes=15), None)])
def test_heatmap_cells_equal_sql_buckets(conn, recorded_engine, at, width, shift):
    """Daily, 8-hour and 4-hour buckets are the rows of the settled rollups of those periods, weekly ones the daily
    rows summed, 15-minute ones from raw rows; a range not on the bucket grid (``shift``) widens to whole buckets."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = day - timedelta(days=7), day + width
    if width == timedelta(days=7):  # whole weeks from Monday (time_bucket's origin 2000-01-03 is a Monday)
        start, end = start - timedelta(days=start.weekday() + 14), day - timedelta(days=day.weekday())
    asked = (start, end) if shift is None else (start + shift, end - shift)
    if shift is not None:  # the buckets the function widens the range to, by pandas (epoch origin: 00 UTC)
        start, end = pd.Timestamp(asked[0]).floor(width), pd.Timestamp(asked[1]).ceil(width)
        assert (start, end) != asked
    cells = sql(conn, _CELLS_SQL, w=width, a=start, b=end).merge(sql(conn, _WEIGHTS_SQL, a=start, b=end), how="left")
    cells["coin"] = [coin_of(s).name for s in cells["symbol"]]
    start, end = asked
    one = funding_heatmap(recorded_engine, "hyperliquid", None, start, end, width)
    hl = cells[cells["exchange"] == "hyperliquid"].sort_values(["coin", "time"], ignore_index=True)
    assert one["coin"].tolist() == hl["coin"].tolist() and one["time"].tolist() == hl["time"].tolist()
    np.testing.assert_allclose(one["annualised"], hl["a"], rtol=1e-12)
    assert set(one["venues"]) == {1}
    venues = heatmap_venue_values(recorded_engine, None, ["BTC"], start, end, width)
    assert len(venues) == (cells["coin"] == "BTC").sum()
    every = funding_heatmap(recorded_engine, None, None, start, end, width)
    weighted = cells.assign(p=cells["a"] * cells["w"]).groupby(["coin", "time"]).agg(
        p=("p", "sum"), w=("w", "sum"), n=("a", "size"), all_w=("w", lambda s: s.notna().all()), mean=("a", "mean"))
    weighted["expected"] = np.where(weighted["all_w"], weighted["p"] / weighted["w"], weighted["mean"])
    weighted = weighted.reset_index()
    assert every["coin"].tolist() == weighted["coin"].tolist() and every["time"].tolist() == weighted["time"].tolist()
    np.testing.assert_allclose(every["annualised"], weighted["expected"], rtol=1e-12)
    assert every["venues"].tolist() == weighted["n"].tolist()
    assert every["weighted"].tolist() == weighted["all_w"].tolist()
    if width == timedelta(days=1):  # this window holds every venue's open interest (a narrower one may not)
        assert every["weighted"].any()
    some = funding_heatmap(recorded_engine, None, ["eth", "BTC"], start, end, width)  # coins picked in the statement
    pd.testing.assert_frame_equal(some, every[every["coin"].isin(["BTC", "ETH"])].reset_index(drop=True))
    assert funding_heatmap(recorded_engine, "okx", ["NOSUCHCOIN"], start, end, width).empty
    with pytest.raises(KeyError):
        funding_heatmap(recorded_engine, None, None, start, end, timedelta(minutes=7))
