"""Funding rollups (``funding_rates_15m``, ``funding_rates_1h``): maintained by ``db.writes.write_funding``, filled by
migrations 0005 and 0002, read by ``db.queries.funding_series`` for 15-minute buckets and buckets >= 1 h. Every
expected value comes from an independent SQL aggregation of the raw ``funding_rates`` rows (``date_trunc`` and minute
arithmetic/``DISTINCT ON``, not ``time_bucket``/``last``), a pandas aggregation of them or, for the series,
``time_bucket`` over the raw rows, on the bundled real history; the per-minute predicted snapshots are derived from
recorded candles and settled rates (labelled so), as the live worker's 60 s cadence would store them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from alembic import command
from sqlalchemy import text

from db import queries
from db.engine import make_engine
from db.schema import FUNDING_ROLLUPS
from db.writes import write_funding
from db.writes.rollups import close_funding_rollups
from ingest.recorded import read_funding, read_klines_1m
from tests.conftest import alembic_config

EXCHANGE = "binanceusdm"
KEY = ["exchange", "symbol", "settled", "time"]
VALUES = ["funding_rate", "funding_rate_last", "funding_interval_hours", "mark_price", "index_price", "rows"]
ROLLUP_TABLES = tuple(t.name for t in FUNDING_ROLLUPS.values())

#: Start of each rollup's bucket as plain SQL over ``ts`` (the row's UTC wall time): the hour by ``date_trunc``, the
#: quarter hour by adding whole 15 minutes of the minute-of-hour to it.
BUCKET_START = {
    "funding_rates_1h": "date_trunc('hour', ts)",
    "funding_rates_15m": "date_trunc('hour', ts) + interval '15 minutes' * floor(extract(minute FROM ts) / 15)",
}

#: The rollup as plain SQL over raw rows: mean and count by GROUP BY bucket, the last row's values by DISTINCT ON ...
#: ORDER BY time DESC.
INDEPENDENT = """
WITH h AS (SELECT ({bucket}) AT TIME ZONE 'UTC' AS bucket, *
           FROM (SELECT time AT TIME ZONE 'UTC' AS ts, * FROM funding_rates WHERE {rolled}) r),
agg AS (SELECT exchange, symbol, settled, bucket, avg(funding_rate) AS funding_rate, count(*) AS rows
        FROM h GROUP BY 1, 2, 3, 4),
lst AS (SELECT DISTINCT ON (exchange, symbol, settled, bucket) exchange, symbol, settled, bucket,
               funding_rate AS funding_rate_last, funding_interval_hours, mark_price, index_price
        FROM h ORDER BY exchange, symbol, settled, bucket, time DESC)
SELECT agg.bucket AS time, agg.exchange, agg.symbol, agg.settled, agg.funding_rate, lst.funding_rate_last,
       lst.funding_interval_hours, lst.mark_price, lst.index_price, agg.rows
FROM agg JOIN lst USING (exchange, symbol, settled, bucket)
"""
STORED = "SELECT time, exchange, symbol, settled, " + ", ".join(VALUES) + " FROM {table}"


def _read(conn, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for col in VALUES:
        frame[col] = frame[col].astype("float64")
    return frame.sort_values(KEY, ignore_index=True)


#: The raw rows the rollups hold: settled ones, and predicted ones before the rollup horizon (db.writes.rollups: the
#: hours from it on are rolled up when they close).
ROLLED = "settled OR time < COALESCE((SELECT predicted_until FROM funding_rollup_horizon), '-infinity')"


def assert_rollups_match_raw(engine, tables: tuple[str, ...] = ROLLUP_TABLES) -> dict[str, int]:
    """Each of ``tables`` holds exactly the rows :data:`INDEPENDENT` computes with its :data:`BUCKET_START` over
    the rows :data:`ROLLED`; returns their number per table."""
    counts = {}
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'UTC'"))
        for table in tables:
            want = _read(conn, INDEPENDENT.format(bucket=BUCKET_START[table], rolled=ROLLED))
            got = _read(conn, STORED.format(table=table))
            assert len(got) == len(want), table
            pd.testing.assert_frame_equal(got[KEY], want[KEY])
            np.testing.assert_allclose(got["funding_rate"], want["funding_rate"], rtol=1e-12, atol=0, err_msg=table)
            for col in VALUES[1:]:
                np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=f"{table}.{col}")
            counts[table] = len(got)
    return counts


def predicted_snapshots(symbol: str, hours: int) -> pd.DataFrame:
    """DERIVED per-minute predicted funding for ``symbol`` over the last ``hours`` of recorded candles: the rate
    is the symbol's next recorded settled rate, the mark price that minute's close (no index price)."""
    candles = read_klines_1m()
    candles = candles[candles["symbol"] == symbol].sort_values("time")
    candles = candles[candles["time"] > candles["time"].max() - pd.Timedelta(hours=hours)]
    settled = read_funding()
    settled = settled[(settled["exchange"] == EXCHANGE) & (settled["symbol"] == symbol)].sort_values("time")
    merged = pd.merge_asof(
        candles[["time", "close"]],
        settled[["time", "funding_rate", "funding_interval_hours"]].rename(columns={"time": "next_funding_time"}),
        left_on="time",
        right_on="next_funding_time",
        direction="forward",
    ).dropna(subset=["funding_rate"])
    return pd.DataFrame({
        "time": merged["time"], "exchange": EXCHANGE, "symbol": symbol, "settled": False,
        "funding_rate": merged["funding_rate"], "funding_interval_hours": merged["funding_interval_hours"],
        "mark_price": merged["close"], "index_price": np.nan, "next_funding_time": merged["next_funding_time"],
    }).reset_index(drop=True)  # fmt: skip


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


def _insert_plain(eng, rows: pd.DataFrame) -> None:
    """Insert funding ``rows`` with plain SQL (no rollup maintenance), as rows stored before a rollup existed."""
    columns = ["time", "exchange", "symbol", "settled", "funding_rate", "funding_interval_hours", "mark_price"]
    with eng.begin() as conn:
        conn.execute(text(f"INSERT INTO funding_rates ({', '.join(columns)}) VALUES "
                          f"({', '.join(':' + c for c in columns)})"),
                     [{k: (None if pd.isna(v) else v) for k, v in r.items()}
                      for r in rows[columns].to_dict(orient="records")])  # fmt: skip


@pytest.mark.parametrize("width", [timedelta(minutes=15), timedelta(hours=1)])
def test_funding_series_reads_raw_rows_for_pairs_without_rollups(clean_db, width):
    """Rows stored other than through write_funding (no rollup) still chart: that pair is read from raw rows."""
    snaps = predicted_snapshots("ETH/USDT:USDT", hours=3)
    _insert_plain(clean_db, snaps)
    start, end = snaps["time"].min().to_pydatetime(), snaps["time"].max().to_pydatetime() + timedelta(minutes=1)
    with clean_db.connect() as conn:
        for table in ROLLUP_TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        got = queries.funding_series(conn, [EXCHANGE], ["ETH/USDT:USDT"], start, end, width)
    want = snaps.groupby(snaps["time"].dt.floor(width))["funding_rate"].agg(["mean", "size"])
    assert list(got["time"]) == list(want.index)
    np.testing.assert_allclose(got["funding_rate"], want["mean"], rtol=1e-12)
    assert list(got["rows"]) == list(want["size"])


def _recorded_funding_rows() -> pd.DataFrame:
    """Settled hourly Hyperliquid rates and 3 hours of per-minute SOL snapshots (derived, see above)."""
    funding = read_funding()
    return pd.concat(
        [funding[funding["exchange"] == "hyperliquid"].head(500), predicted_snapshots("SOL/USDT:USDT", hours=3)],
        ignore_index=True,
    )


def test_migration_0002_fills_rollups_from_stored_rows_and_downgrade_drops_them(scratch_url):
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0001")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        _insert_plain(eng, _recorded_funding_rows())  # revision 0001's table, no rollup yet
        command.upgrade(cfg, "head")
        assert min(assert_rollups_match_raw(eng).values()) > 0
        command.downgrade(cfg, "0001")
        with eng.connect() as conn:
            for table in ROLLUP_TABLES:
                assert conn.execute(text(f"SELECT to_regclass('{table}')")).scalar() is None
    finally:
        eng.dispose()


def test_migration_0005_fills_15m_funding_rollups_from_stored_rows_and_downgrade_drops_them(scratch_url):
    """Funding rows stored before revision 0005 get their 15-minute rollups on upgrade; downgrade drops the table
    and keeps the raw rows and the hourly rollups."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0004")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        rows = _recorded_funding_rows()
        _insert_plain(eng, rows)  # plain inserts: no rollup of either width maintained
        command.upgrade(cfg, "head")
        assert assert_rollups_match_raw(eng, ("funding_rates_15m",))["funding_rates_15m"] > 0
        command.downgrade(cfg, "0004")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('funding_rates_15m')")).scalar() is None
            assert conn.execute(text("SELECT count(*) FROM funding_rates")).scalar() == len(rows)
            assert conn.execute(text("SELECT to_regclass('funding_rates_1h')")).scalar() is not None
    finally:
        eng.dispose()


def test_migration_0004_fills_15m_candle_rollups_from_stored_rows_and_downgrade_deletes_them(scratch_url):
    """1-minute candles stored before revision 0004 (plain inserts, recorded data) get their 15-minute rollups
    on upgrade, equal to the candles resampled in pandas; downgrade deletes them and keeps the 1-minute rows."""
    cfg = alembic_config(scratch_url)
    command.upgrade(cfg, "0003")
    eng = make_engine(scratch_url, pool_size=1)
    try:
        klines = read_klines_1m()
        rows = pd.concat([klines[klines["symbol"] == s].iloc[7:250] for s in ("ETH/USDT:USDT", "SOL/USDT:USDT")],
                         ignore_index=True)  # fmt: skip
        columns = ["time", "exchange", "symbol", "timeframe", "price_kind", "open", "high", "low", "close", "volume"]
        with eng.begin() as conn:
            conn.execute(
                text(f"INSERT INTO prices ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
                rows[columns].to_dict(orient="records"),
            )
        command.upgrade(cfg, "head")
        with eng.connect() as conn:
            got = pd.DataFrame(
                conn.execute(
                    text(
                        "SELECT symbol, time, open, high, low, close, volume FROM prices WHERE timeframe = '15m' "
                        "ORDER BY symbol, time"
                    )
                )
                .mappings()
                .all()
            )
        want = (
            rows.set_index("time")
            .groupby("symbol")
            .resample("15min")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
            .reset_index()
        )
        assert len(got) == len(want) > 2
        pd.testing.assert_frame_equal(got[["symbol", "time"]], want[["symbol", "time"]])
        for col in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
        np.testing.assert_allclose(got["volume"].to_numpy(), want["volume"].to_numpy(), rtol=1e-12)
        command.downgrade(cfg, "0003")
        with eng.connect() as conn:
            counts = dict(conn.execute(text("SELECT timeframe, count(*) FROM prices GROUP BY 1")).all())
        assert counts == {"1m": len(rows)}
    finally:
        eng.dispose()


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
