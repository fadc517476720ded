"""db.queries on the bundled real history (``recorded_engine``): every value is checked against an independent
computation (plain SELECT of raw rows, bucketed and aggregated in pandas), never a hard-coded number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db import queries

EXCHANGE = "binanceusdm"
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def raw(conn, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if "time" in frame:
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


@pytest.fixture(scope="module")
def newest_candle(recorded_engine) -> datetime:
    with recorded_engine.connect() as conn:
        return conn.execute(
            text("SELECT max(time) FROM prices WHERE timeframe = '1m' AND symbol = ANY(:s)"), {"s": SYMBOLS}
        ).scalar()


@pytest.fixture
def conn(recorded_engine):
    with recorded_engine.connect() as c:
        yield c


# --- bucket choice --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("span", [timedelta(hours=1), timedelta(hours=6), timedelta(hours=24), timedelta(days=7),
                                  timedelta(days=30), timedelta(days=365)])  # fmt: skip
def test_choose_bucket_is_the_finest_whitelisted_width_within_max_points(span):
    end = datetime(2025, 6, 24, tzinfo=UTC)
    width = queries.choose_bucket(end - span, end)
    widths = list(queries.BUCKET_WIDTHS.values())
    assert width in widths
    assert span / width <= queries.MAX_POINTS
    finer = widths[: widths.index(width)]
    assert all(span / w > queries.MAX_POINTS for w in finer)


def test_choose_bucket_rejects_bad_ranges():
    t = datetime(2025, 6, 24, tzinfo=UTC)
    with pytest.raises(ValueError, match="before"):
        queries.choose_bucket(t, t)
    with pytest.raises(ValueError, match="timezone-aware"):
        queries.choose_bucket(datetime(2025, 6, 1), datetime(2025, 6, 2))
    with pytest.raises(KeyError):
        queries.bucket_name(timedelta(minutes=2))


# --- series ---------------------------------------------------------------------------------------------------


def test_funding_series_equals_bucket_means_of_raw_rows(conn):
    start, end = datetime(2025, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
    exchanges = [EXCHANGE, "bybit"]
    got = queries.funding_series(conn, exchanges, SYMBOLS, start, end)
    width = queries.choose_bucket(start, end)
    start, end = queries.align_range(start, end, width)
    rows = raw(conn, "SELECT time, exchange, symbol, settled, funding_rate FROM funding_rates "
                     "WHERE exchange = ANY(:e) AND symbol = ANY(:s) AND time >= :a AND time < :b",
               e=exchanges, s=SYMBOLS, a=start, b=end)  # fmt: skip
    rows["time"] = rows["time"].dt.floor(width)
    want = rows.groupby(["exchange", "symbol", "settled", "time"], as_index=False)["funding_rate"].mean()
    assert len(got) == len(want) > 0
    assert len(got.groupby(["exchange", "symbol", "settled"]).size()) == 4
    assert got.groupby(["exchange", "symbol", "settled"]).size().max() <= queries.MAX_POINTS
    merged = got.merge(want, on=["exchange", "symbol", "settled", "time"], suffixes=("", "_want"))
    assert len(merged) == len(want)
    np.testing.assert_allclose(merged["funding_rate"], merged["funding_rate_want"], rtol=1e-12)


@pytest.mark.parametrize(("span", "bucket"), [
    (timedelta(hours=1), None), (timedelta(days=7), None), (timedelta(days=30), None),
    (timedelta(days=1), timedelta(minutes=15)), (timedelta(days=3), timedelta(hours=4)),
])  # fmt: skip
def test_price_series_equals_ohlcv_aggregated_from_raw_1m_candles(conn, newest_candle, span, bucket):
    """Whatever the source (1-minute rows, 15-minute or 1-hour rollups), the buckets equal the raw 1-minute rows
    aggregated in pandas; the source is the coarsest rollup that tiles the bucket. The range ends on a bucket
    boundary: the hours after the newest 1-minute candle hold bundled 1-hour candles, not rollups."""
    end = newest_candle + timedelta(minutes=1)
    width = bucket or queries.choose_bucket(end - span, end)
    end = pd.Timestamp(end).floor(width).to_pydatetime()
    start = end - span
    got = queries.price_series(conn, [EXCHANGE], SYMBOLS, start, end, bucket)
    start, end = queries.align_range(start, end, width)
    assert start.minute == 0 or width < timedelta(hours=1)
    rows = raw(conn, "SELECT time, symbol, open, high, low, close, volume FROM prices WHERE exchange = :e "
                     "AND symbol = ANY(:s) AND timeframe = '1m' AND price_kind = 'last' AND time >= :a AND time < :b",
               e=EXCHANGE, s=SYMBOLS, a=start, b=end)  # fmt: skip
    rows = rows.sort_values("time")
    rows["bucket"] = rows["time"].dt.floor(width)
    want = rows.groupby(["symbol", "bucket"], as_index=False).agg(
        open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
        volume=("volume", "sum"),
    )  # fmt: skip
    assert got.groupby("symbol").size().max() <= queries.MAX_POINTS
    expected_source = "1h" if width >= timedelta(hours=1) else "15m" if width >= timedelta(minutes=15) else "1m"
    assert set(got["source_timeframe"]) == {expected_source}
    merged = got.merge(want, left_on=["symbol", "time"], right_on=["symbol", "bucket"], suffixes=("", "_want"))
    assert len(merged) == len(got) == len(want) > 0
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_want"], rtol=1e-9)


def test_price_series_leaves_gaps_as_gaps(clean_db, recorded_engine, newest_candle):
    """Recorded candles copied with a hole: the bucketed series has no row for the missing minutes."""
    start = newest_candle - timedelta(minutes=30)
    with recorded_engine.connect() as conn:
        rows = raw(conn, "SELECT time, exchange, symbol, timeframe, price_kind, open, high, low, close, volume "
                         "FROM prices WHERE symbol = :s AND timeframe = '1m' AND time >= :a",
                   s=SYMBOLS[0], a=start)  # fmt: skip
    hole = rows["time"].isin(rows["time"].sort_values().iloc[10:15])
    with clean_db.begin() as conn:
        conn.execute(text("INSERT INTO prices (time, exchange, symbol, timeframe, price_kind, open, high, low, close, "
                          "volume) VALUES (:time, :exchange, :symbol, :timeframe, :price_kind, :open, :high, :low, "
                          ":close, :volume)"), rows[~hole].to_dict(orient="records"))  # fmt: skip
    with clean_db.connect() as conn:
        got = queries.price_series(conn, [EXCHANGE], [SYMBOLS[0]], start, newest_candle + timedelta(minutes=1))
    assert list(got["time"]) == sorted(rows.loc[~hole, "time"])
    assert not set(rows.loc[hole, "time"]) & set(got["time"])


def test_anomaly_rows_equal_the_table(conn):
    start, end = datetime(2025, 5, 25, tzinfo=UTC), datetime(2025, 6, 25, tzinfo=UTC)
    got = queries.anomaly_rows(conn, [EXCHANGE], SYMBOLS, start, end, metrics=["log_return_1m"], min_abs_z=5.0)
    want = raw(conn, "SELECT time, symbol, method, value, z_score FROM anomalies WHERE exchange = :e AND symbol = "
                     "ANY(:s) AND metric = 'log_return_1m' AND abs(z_score) >= 5 AND time >= :a AND time < :b",
               e=EXCHANGE, s=SYMBOLS, a=start, b=end)  # fmt: skip
    assert len(got) == len(want) > 0
    assert got["time"].is_monotonic_decreasing
    key = ["time", "symbol", "method"]
    merged = got.merge(want, on=key, suffixes=("", "_want"))
    assert len(merged) == len(want)
    np.testing.assert_array_equal(merged["z_score"], merged["z_score_want"])
    limited = queries.anomaly_rows(conn, [EXCHANGE], SYMBOLS, start, end, limit=3)
    newest = raw(conn, "SELECT time FROM anomalies WHERE exchange = :e AND symbol = ANY(:s) AND time >= :a "
                       "AND time < :b ORDER BY time DESC LIMIT 3", e=EXCHANGE, s=SYMBOLS, a=start, b=end)  # fmt: skip
    assert list(limited["time"]) == list(newest["time"])


def test_newest_anomaly_time_equals_the_table(conn):
    """The newest matching anomaly at any time (the Anomalies page's jump), and None when nothing matches."""
    found = []
    for metrics, min_z in ((None, 0.0), (["log_return_1m"], 5.0), (["funding_rate"], 0.0)):
        got = queries.newest_anomaly_time(conn, [EXCHANGE], SYMBOLS, metrics, min_z)
        want = conn.execute(text("SELECT max(time) FROM anomalies WHERE exchange = :e AND symbol = ANY(:s) "
                                 "AND (CAST(:m AS text[]) IS NULL OR metric = ANY(:m)) AND abs(z_score) >= :z"),
                            {"e": EXCHANGE, "s": SYMBOLS, "m": metrics, "z": min_z}).scalar()  # fmt: skip
        assert got == want
        found.append(got)
    assert found[0] is not None and found[1] is not None and found[1] <= found[0]
    assert queries.newest_anomaly_time(conn, [EXCHANGE], ["NOSUCH/USDT:USDT"]) is None


# --- symbols, extent, snapshot --------------------------------------------------------------------------------


def test_list_symbols_and_known_pairs_match_distinct_pairs(conn):
    listed = queries.list_symbols(conn)
    want = raw(conn, "SELECT exchange, symbol, min(time) AS first_time, max(time) AS last_time FROM ("
                     "SELECT exchange, symbol, time FROM funding_rates UNION ALL "
                     "SELECT exchange, symbol, time FROM prices) x GROUP BY 1, 2 ORDER BY 1, 2")  # fmt: skip
    assert list(zip(listed["exchange"], listed["symbol"], strict=True)) == list(
        zip(want["exchange"], want["symbol"], strict=True)
    )
    assert queries.known_pairs(conn) == list(zip(want["exchange"], want["symbol"], strict=True))
    assert (listed["first_time"].to_numpy() == pd.to_datetime(want["first_time"], utc=True).to_numpy()).all()
    assert (listed["last_time"].to_numpy() == pd.to_datetime(want["last_time"], utc=True).to_numpy()).all()
    btc = listed[(listed["exchange"] == EXCHANGE) & (listed["symbol"] == SYMBOLS[0])].iloc[0]
    assert btc["display"] == "BTC/USDT" and btc["streams"] == ("funding", "ohlcv")
    interval = conn.execute(
        text(
            "SELECT funding_interval_hours FROM funding_rates WHERE exchange = :e AND symbol = :s "
            "AND settled ORDER BY time DESC LIMIT 1"
        ),
        {"e": EXCHANGE, "s": SYMBOLS[0]},
    ).scalar()
    assert btc["funding_interval_hours"] == interval


def test_data_extent(conn):
    first, last = queries.data_extent(conn, [EXCHANGE], SYMBOLS)
    want = conn.execute(text("SELECT min(time), max(time) FROM (SELECT time FROM prices WHERE exchange = :e AND "
                             "symbol = ANY(:s) UNION ALL SELECT time FROM funding_rates WHERE exchange = :e AND "
                             "symbol = ANY(:s)) x"), {"e": EXCHANGE, "s": SYMBOLS}).one()  # fmt: skip
    assert (first, last) == tuple(want)
    assert queries.data_extent(conn, ["nowhere"]) is None


def test_latest_snapshot_equals_newest_rows(conn, newest_candle):
    now = newest_candle + timedelta(minutes=1)
    snap = queries.latest_snapshot(conn, [EXCHANGE], SYMBOLS, now).set_index("symbol")
    for symbol in SYMBOLS:
        one = """SELECT time, close FROM prices WHERE exchange = :e AND symbol = :s AND timeframe = '1m'
                 AND time <= :t ORDER BY time DESC LIMIT 1"""
        last = conn.execute(text(one), {"e": EXCHANGE, "s": symbol, "t": now}).one()
        ago = conn.execute(text(one), {"e": EXCHANGE, "s": symbol, "t": last.time - timedelta(hours=24)}).one()
        funding = conn.execute(text("SELECT time, funding_rate, funding_interval_hours FROM funding_rates "
                                    "WHERE exchange = :e AND symbol = :s AND time <= :t ORDER BY time DESC LIMIT 1"),
                               {"e": EXCHANGE, "s": symbol, "t": now}).one()  # fmt: skip
        anomaly = conn.execute(text("SELECT time, z_score FROM anomalies WHERE exchange = :e AND symbol = :s "
                                    "AND time <= :t ORDER BY time DESC LIMIT 1"),
                               {"e": EXCHANGE, "s": symbol, "t": now}).one()  # fmt: skip
        row = snap.loc[symbol]
        assert row["last_price"] == last.close and row["price_time"] == last.time
        assert row["change_24h_pct"] == pytest.approx((last.close / ago.close - 1) * 100, rel=1e-12)
        assert row["funding_rate"] == funding.funding_rate and row["funding_time"] == funding.time
        assert bool(row["funding_settled"]) is True
        assert row["next_funding_time"] == funding.time + timedelta(hours=funding.funding_interval_hours)
        assert row["last_anomaly_time"] == anomaly.time and row["last_anomaly_z"] == anomaly.z_score


def test_latest_snapshot_of_the_past_ignores_later_rows(conn, newest_candle):
    """Issue 11, item 5: at a view end of 10:00 the last price is the close of the 09:59 candle (closed at 10:00),
    not of the candle opening at 10:00, and the 24 h change is taken with it."""
    now = newest_candle - timedelta(days=3)
    snap = queries.latest_snapshot(conn, [EXCHANGE], SYMBOLS[:1], now)
    assert snap["price_time"].iloc[0] <= now and snap["funding_time"].iloc[0] <= now
    one = """SELECT time, close FROM prices WHERE exchange = :e AND symbol = :s AND timeframe = '1m'
             AND time = :t"""
    closed = conn.execute(text(one), {"e": EXCHANGE, "s": SYMBOLS[0], "t": now - timedelta(minutes=1)}).one()
    ago = conn.execute(text(one), {"e": EXCHANGE, "s": SYMBOLS[0], "t": closed.time - timedelta(hours=24)}).one()
    assert conn.execute(text(one), {"e": EXCHANGE, "s": SYMBOLS[0], "t": now}).one_or_none() is not None
    assert snap["price_time"].iloc[0] == closed.time and snap["last_price"].iloc[0] == closed.close
    assert snap["change_24h_pct"].iloc[0] == pytest.approx((closed.close / ago.close - 1) * 100, rel=1e-12)


def test_latest_snapshot_beyond_the_lookback_reads_further_back(conn):
    """A view a month after the newest row (past ``SNAPSHOT_LOOKBACK``) shows each pair's newest price and funding
    rate all the same; a pair without data anywhere (by the catalogue) and a view before the data begin show none."""
    first, last = conn.execute(text("SELECT min(first_time), max(last_time) FROM pair_extents WHERE exchange = :e"),
                               {"e": EXCHANGE}).one()  # fmt: skip
    far = queries.latest_snapshot(conn, [EXCHANGE, "nowhere"], SYMBOLS, last + timedelta(days=30))
    assert far["exchange"].tolist() == [EXCHANGE] * len(SYMBOLS) + ["nowhere"] * len(SYMBOLS)
    for row in far[far["exchange"] == EXCHANGE].itertuples():
        newest = "SELECT time, {v} FROM {t} WHERE exchange = :e AND symbol = :s {k} ORDER BY time DESC LIMIT 1"
        price = conn.execute(text(newest.format(v="close", t="prices", k="AND price_kind = 'last'")),
                             {"e": EXCHANGE, "s": row.symbol}).one()  # fmt: skip
        funding = conn.execute(text(newest.format(v="funding_rate", t="funding_rates", k="")),
                               {"e": EXCHANGE, "s": row.symbol}).one()  # fmt: skip
        assert (row.price_time, row.last_price) == tuple(price), row.symbol
        assert (row.funding_time, row.funding_rate) == tuple(funding), row.symbol
    assert far[far["exchange"] == "nowhere"][["last_price", "funding_rate"]].isna().all(axis=None)
    before = queries.latest_snapshot(conn, [EXCHANGE], SYMBOLS, first - timedelta(days=1))
    assert len(before) == len(SYMBOLS) and before[["last_price", "funding_rate"]].isna().all(axis=None)


def test_anomaly_counts_and_strongest_rows_equal_the_table(conn):
    start, end = datetime(2025, 5, 25, tzinfo=UTC), datetime(2025, 6, 25, tzinfo=UTC)  # the recorded month
    counts = queries.anomaly_counts(conn, [EXCHANGE], SYMBOLS, start, end)
    want = raw(
        conn,
        "SELECT symbol, metric, count(*) AS n, max(abs(z_score)) AS z, max(time) AS t FROM anomalies "
        "WHERE exchange = :e AND symbol = ANY(:s) AND time >= :a AND time < :b "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        e=EXCHANGE,
        s=list(SYMBOLS),
        a=start,
        b=end,
    )
    assert len(want) > 2 and want["n"].sum() > 20
    assert counts[["symbol", "metric"]].values.tolist() == want[["symbol", "metric"]].values.tolist()
    assert counts["anomalies"].tolist() == want["n"].tolist()
    assert counts["max_abs_z"].tolist() == want["z"].tolist()
    assert counts["newest"].tolist() == pd.to_datetime(want["t"], utc=True).tolist()
    top = queries.anomaly_rows(conn, [EXCHANGE], SYMBOLS, start, end, limit=20, strongest=True)
    every = queries.anomaly_rows(conn, [EXCHANGE], SYMBOLS, start, end)
    assert len(top) == 20 and top["time"].is_monotonic_decreasing
    assert sorted(top["z_score"].abs(), reverse=True) == every["z_score"].abs().nlargest(20).tolist()
