"""Funding rollups (``funding_rates_15m``, ``funding_rates_1h``): maintained by ``db.writes.write_funding`` and closed
by ``db.writes.rollups`` (filled by migrations 0005 and 0002: ``tests/test_rollup_migrations.py``), read by
``db.queries.funding_series`` for 15-minute buckets and buckets >= 1 h. Every
expected value comes from an independent SQL aggregation of the raw ``funding_rates`` rows (``date_trunc`` and minute
arithmetic/``DISTINCT ON``, not ``time_bucket``/``last``), a pandas aggregation of them or, for the series,
``time_bucket`` over the raw rows, on the bundled real history; the per-minute predicted snapshots are derived from
recorded candles and settled rates (labelled so), as the live worker's 60 s cadence would store them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db import queries
from db.schema import FUNDING_ROLLUPS
from db.writes import write_funding
from db.writes.rollups import close_funding_rollups
from ingest.recorded import read_funding
from tests.rollup_helpers import (
    EXCHANGE,
    KEY,
    ROLLED,
    ROLLUP_TABLES,
    assert_rollups_match_raw,
    insert_plain,
    predicted_snapshots,
)


def test_recorded_history_rollups_equal_the_raw_aggregation(recorded_engine):
    assert min(assert_rollups_match_raw(recorded_engine).values()) > 0


def test_write_funding_maintains_rollups_incrementally_and_replay_writes_nothing(clean_db):
    snaps = predicted_snapshots("BTC/USDT:USDT", hours=6)
    settled = read_funding()
    settled = settled[(settled["exchange"] == EXCHANGE) & (settled["symbol"] == "BTC/USDT:USDT")]
    settled = settled[settled["time"].between(snaps["time"].min() - pd.Timedelta(days=2), snaps["time"].max())]
    cut = len(snaps) // 2 + 17  # inside an hour: that hour is written twice
    first = write_funding(clean_db, pd.concat([settled, snaps.iloc[:cut]], ignore_index=True))
    assert first.written == len(settled) + cut and first.rollups > 0
    assert_rollups_match_raw(clean_db)
    # Each write leaves the predicted rows of its newest hour to the close of that hour (the first write of a newer
    # hour), which writes the rollup rows of every bucket in between.
    lo, hi = snaps["time"].iloc[cut - 1].floor("1h"), snaps["time"].iloc[-1].floor("1h")
    second = write_funding(clean_db, snaps.iloc[cut:])
    closed = snaps["time"][(snaps["time"] >= lo) & (snaps["time"] < hi)]
    buckets = sum(closed.dt.floor(width).nunique() for width in FUNDING_ROLLUPS)
    assert second.written == len(snaps) - cut and second.rollups == buckets > 0
    assert_rollups_match_raw(clean_db)
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT predicted_until FROM funding_rollup_horizon")).scalar() == hi
    replay = write_funding(clean_db, pd.concat([settled, snaps], ignore_index=True))
    assert (replay.written, replay.rollups) == (0, 0)
    # A settled rate gaining its mark price later changes its bucket's row in each rollup (the last row's mark price).
    marked = settled.tail(1).assign(mark_price=float(snaps["mark_price"].iloc[-1]))
    gained = write_funding(clean_db, marked)
    assert (gained.written, gained.rollups) == (1, len(FUNDING_ROLLUPS))
    again = write_funding(clean_db, marked)
    assert (again.written, again.rollups) == (0, 0)
    assert_rollups_match_raw(clean_db)


@pytest.mark.parametrize(
    ("width", "table"),
    [
        (timedelta(minutes=15), "funding_rates_15m"),
        (timedelta(hours=1), "funding_rates_1h"),
        (timedelta(hours=4), "funding_rates_1h"),
        (timedelta(days=1), "funding_rates_1h"),
    ],
)
def test_funding_series_from_rollups_equals_raw_bucket_means(recorded_engine, width, table):
    exchanges, symbols = [EXCHANGE, "bybit", "hyperliquid"], ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    with recorded_engine.connect() as conn:
        end = conn.execute(text("SELECT max(time) FROM funding_rates WHERE exchange = ANY(:e)"),
                           {"e": exchanges}).scalar()  # fmt: skip
        start = end - timedelta(days=30)
        got = queries.funding_series(conn, exchanges, symbols, start, end, width)
        lo, hi = queries.align_range(start, end, width)
        stored = conn.execute(text(f"SELECT count(DISTINCT (exchange, symbol)) FROM {table} WHERE "
                                   "exchange = ANY(:e) AND symbol = ANY(:s) AND time >= :a AND time < :b"),
                              {"e": exchanges, "s": symbols, "a": lo, "b": hi}).scalar()  # fmt: skip
        raw = pd.DataFrame(conn.execute(text(
            "SELECT time, exchange, symbol, settled, funding_rate, funding_interval_hours FROM funding_rates "
            "WHERE exchange = ANY(:e) AND symbol = ANY(:s) AND time >= :a AND time < :b ORDER BY time"),
            {"e": exchanges, "s": symbols, "a": lo, "b": hi}).fetchall())  # fmt: skip
    assert stored == got[["exchange", "symbol"]].drop_duplicates().shape[0] > 1  # every series read from rollups
    raw["time"] = pd.to_datetime(raw["time"], utc=True)
    raw["bucket"] = raw["time"].dt.floor(width)
    want = raw.groupby(["exchange", "symbol", "settled", "bucket"], as_index=False).agg(
        funding_rate=("funding_rate", "mean"), interval=("funding_interval_hours", "last"), rows=("time", "size")
    )
    merged = got.merge(want, left_on=KEY, right_on=["exchange", "symbol", "settled", "bucket"], how="outer",
                       indicator=True)  # fmt: skip
    assert (merged["_merge"] == "both").all() and len(got) == len(want) > 0
    np.testing.assert_allclose(merged["funding_rate_x"], merged["funding_rate_y"], rtol=1e-12)
    np.testing.assert_array_equal(merged["funding_interval_hours"], merged["interval"].astype(float))
    np.testing.assert_array_equal(merged["rows_x"], merged["rows_y"])


def test_funding_series_15m_reads_the_15m_rollup_and_equals_raw_time_buckets(clean_db):
    """Per-minute snapshots and settled rates written through write_funding: 15-minute buckets of an unaligned
    range equal ``time_bucket`` over the raw rows, and stay the same once the raw rows are deleted (so they come
    from ``funding_rates_15m``)."""
    symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    snaps = pd.concat([predicted_snapshots(s, hours=8) for s in symbols], ignore_index=True)
    settled = read_funding()
    settled = settled[
        (settled["exchange"] == EXCHANGE)
        & settled["symbol"].isin(symbols)
        & settled["time"].between(snaps["time"].min() - pd.Timedelta(days=3), snaps["time"].max())
    ]
    write_funding(clean_db, pd.concat([settled, snaps], ignore_index=True))
    start = (snaps["time"].min() - pd.Timedelta(days=3, minutes=-7)).to_pydatetime()
    end = (snaps["time"].max() - pd.Timedelta(minutes=22)).to_pydatetime()
    width = timedelta(minutes=15)
    lo, hi = queries.align_range(start, end, width)
    with clean_db.connect() as conn:
        got = queries.funding_series(conn, [EXCHANGE], symbols, start, end, width)
        want = pd.DataFrame(conn.execute(text(
            "SELECT time_bucket('15 minutes', time) AS time, exchange, symbol, settled, avg(funding_rate) AS rate, "
            "last(funding_interval_hours, time) AS interval, count(*) AS rows FROM funding_rates "
            "WHERE time >= :lo AND time < :hi GROUP BY 1, 2, 3, 4 ORDER BY exchange, symbol, settled, time"),
            {"lo": lo, "hi": hi}).mappings().all())  # fmt: skip
    assert len(got) == len(want) > 4 * 8 * len(symbols) and got["settled"].any()
    assert list(got[KEY].itertuples(index=False)) == list(want[KEY].itertuples(index=False))
    np.testing.assert_allclose(got["funding_rate"], want["rate"].astype(float), rtol=1e-12)
    np.testing.assert_array_equal(got["funding_interval_hours"], want["interval"].astype(float))
    np.testing.assert_array_equal(got["rows"], want["rows"])
    # The rows before the rollup horizon are read from the rollup, the open hour's from their raw rows.
    with clean_db.begin() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM funding_rates WHERE NOT ({ROLLED}) AND time < :hi"),
                            {"hi": hi}).scalar() > 0  # fmt: skip
        conn.execute(text(f"DELETE FROM funding_rates WHERE {ROLLED}"))
    with clean_db.connect() as conn:
        again = queries.funding_series(conn, [EXCHANGE], symbols, start, end, width)
    pd.testing.assert_frame_equal(again, got)


@pytest.mark.parametrize("width", [timedelta(minutes=15), timedelta(hours=1)])
def test_funding_series_reads_raw_rows_for_pairs_without_rollups(clean_db, width):
    """Rows stored other than through write_funding (no rollup) still chart: that pair is read from raw rows."""
    snaps = predicted_snapshots("ETH/USDT:USDT", hours=3)
    insert_plain(clean_db, snaps)
    start, end = snaps["time"].min().to_pydatetime(), snaps["time"].max().to_pydatetime() + timedelta(minutes=1)
    with clean_db.connect() as conn:
        for table in ROLLUP_TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        got = queries.funding_series(conn, [EXCHANGE], ["ETH/USDT:USDT"], start, end, width)
    want = snaps.groupby(snaps["time"].dt.floor(width))["funding_rate"].agg(["mean", "size"])
    assert list(got["time"]) == list(want.index)
    np.testing.assert_allclose(got["funding_rate"], want["mean"], rtol=1e-12)
    assert list(got["rows"]) == list(want["size"])


def test_reads_of_predicted_rows_do_not_depend_on_the_close(clean_db):
    """Per-minute snapshots written without the close (their hours wait from the rollup horizon on) read the same
    before and after it: before, from raw rows; after, from the rollups before the horizon and raw rows of the open
    hour. A corrected snapshot of the open hour changes the fingerprint (it is not in any rollup row)."""
    snaps = predicted_snapshots("BTC/USDT:USDT", hours=5)
    pair = ([EXCHANGE], ["BTC/USDT:USDT"])
    first = write_funding(clean_db, snaps, close=False)
    assert first.closable and first.rollups == 0 and first.written == len(snaps)
    start, end = snaps["time"].min().to_pydatetime(), snaps["time"].max().to_pydatetime() + timedelta(minutes=1)
    widths = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
    with clean_db.connect() as conn:
        before = {w: queries.funding_series(conn, *pair, start, end, w) for w in widths}
    assert all(frame["rows"].sum() == len(snaps) for frame in before.values())
    assert close_funding_rollups(clean_db) > 0 and close_funding_rollups(clean_db) == 0
    assert_rollups_match_raw(clean_db)
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM funding_rates_15m")).scalar() > 0
        for width, frame in before.items():
            pd.testing.assert_frame_equal(queries.funding_series(conn, *pair, start, end, width), frame,
                                          check_exact=False, rtol=1e-12)  # fmt: skip
        version = queries.window_fingerprint(conn, *pair, start, end, ("funding_rates",), widths[0])
    fix = snaps.tail(1).assign(funding_rate=snaps["funding_rate"].iloc[-1] + 1e-6)
    assert write_funding(clean_db, fix).written == 1
    with clean_db.connect() as conn:
        assert queries.window_fingerprint(conn, *pair, start, end, ("funding_rates",), widths[0]) != version
    assert_rollups_match_raw(clean_db)
