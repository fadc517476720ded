"""The summary tables of ``db.summaries`` equal the same aggregates computed with SQL on the raw rows: after the
migration's fill (bundled history), after writes through ``db.writes`` as ingest makes them (appended minutes,
backfill into stored hours, a corrected rate, a price gained later, replays) and after retention's refresh.

Real TimescaleDB; bundled recorded funding and open interest (settled) and per-minute predicted snapshots derived
from recorded candles (``tests.rollup_helpers.predicted_snapshots``), written as the ingest role.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import text

from db.writes import write_funding, write_open_interest
from db.writes.summaries import rebuild_summaries, refresh_summaries
from ingest.recorded import read_funding, read_open_interest
from ingest.retention import apply_retention
from settings import load_settings
from tests.rollup_helpers import predicted_snapshots

_NEWEST_FUNDING = """SELECT DISTINCT ON (exchange, symbol, settled) exchange, symbol, settled, time, funding_rate,
       funding_interval_hours, mark_price, index_price, next_funding_time
FROM funding_rates ORDER BY exchange, symbol, settled, time DESC"""
_NEWEST_OI = """SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, open_interest_value FROM open_interest
WHERE open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC"""
#: Settled rows per period by PostgreSQL's ``date_bin`` from 2000-01-01 00:00 UTC (not ``time_bucket``), last row by
#: DISTINCT ON.
_SETTLED = """
WITH r AS (SELECT date_bin(interval '{period}', time, timestamptz '2000-01-01 00:00+00') AS bucket, *
           FROM funding_rates WHERE settled),
agg AS (SELECT exchange, symbol, bucket, count(*) AS settlements, sum(funding_rate) AS rate_sum,
               COALESCE(sum(funding_rate * 8760 / funding_interval_hours), 0) AS annualised_sum,
               count(funding_interval_hours) AS annualised_rows, min(time) AS first_time, max(time) AS last_time
        FROM r GROUP BY 1, 2, 3),
lst AS (SELECT DISTINCT ON (exchange, symbol, bucket) exchange, symbol, bucket,
               funding_interval_hours AS last_interval_hours FROM r ORDER BY exchange, symbol, bucket, time DESC)
SELECT agg.bucket AS time, agg.exchange, agg.symbol, settlements, rate_sum, annualised_sum, annualised_rows,
       first_time, last_time, last_interval_hours
FROM agg JOIN lst USING (exchange, symbol, bucket)"""
_STORED = ("SELECT time, exchange, symbol, settlements, rate_sum, annualised_sum, annualised_rows, first_time, "
           "last_time, last_interval_hours FROM {table}")
_SUMS = ("rate_sum", "annualised_sum")
_PERIODS = {"funding_settled_1h": "1 hour", "funding_settled_4h": "4 hours", "funding_settled_8h": "8 hours",
            "funding_settled_1d": "1 day"}


def _frame(conn, sql: str, keys: list[str]) -> pd.DataFrame:
    result = conn.execute(text(sql))
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.sort_values(keys, ignore_index=True)


def assert_summaries_match_raw(engine) -> dict[str, int]:
    """Every summary table equals its SQL over the raw rows; returns their row counts."""
    counts = {}
    with engine.connect() as conn:
        for table, sql, keys in (("funding_newest", _NEWEST_FUNDING, ["exchange", "symbol", "settled"]),
                                 ("open_interest_newest", _NEWEST_OI, ["exchange", "symbol"])):  # fmt: skip
            want = _frame(conn, sql, keys)
            got = _frame(conn, f"SELECT {', '.join(want.columns)} FROM {table}", keys)
            pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=table)
            counts[table] = len(got)
        for table, period in _PERIODS.items():
            keys = ["exchange", "symbol", "time"]
            want = _frame(conn, _SETTLED.format(period=period), keys)
            got = _frame(conn, _STORED.format(table=table), keys)
            exact = [c for c in want.columns if c not in _SUMS]
            pd.testing.assert_frame_equal(got[exact], want[exact], check_dtype=False, obj=table)
            for col in _SUMS:
                np.testing.assert_allclose(got[col].astype(float), want[col].astype(float), rtol=1e-12, atol=1e-15)
            counts[table] = len(got)
    return counts


def test_migration_fill_of_the_bundled_history_equals_the_raw_aggregates(recorded_engine):
    counts = assert_summaries_match_raw(recorded_engine)
    assert min(counts.values()) > 0


def _sample() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    snaps = predicted_snapshots("BTC/USDT:USDT", hours=5)
    funding = read_funding()
    funding = funding[funding["symbol"].isin(["BTC/USDT:USDT", "ETH/USDT:USDT"])
                      & (funding["time"] <= snaps["time"].max())]  # fmt: skip
    oi = read_open_interest()
    oi = oi[oi["symbol"].isin(["BTC/USDT:USDT", "ETH/USDT:USDT"])]
    return funding, snaps, oi


def test_writes_keep_the_summaries_equal_to_the_raw_rows(clean_db, ingest_engine):
    funding, snaps, oi = _sample()
    cut = funding["time"].quantile(0.6)
    write_funding(ingest_engine, funding[funding["time"] >= cut])
    write_open_interest(ingest_engine, oi[oi["time"] >= oi["time"].median()])
    assert_summaries_match_raw(clean_db)
    # live minutes appended in batches of a few minutes (the rollups updated from the batch alone)
    for start in range(0, len(snaps), 8):
        part = snaps.iloc[start:start + 8]
        assert write_funding(ingest_engine, part).written == len(part)
    assert_summaries_match_raw(clean_db)
    # backfill of older settled rows and open interest (into stored hours: recomputed), then replays
    write_funding(ingest_engine, funding)
    write_open_interest(ingest_engine, oi)
    assert_summaries_match_raw(clean_db)
    replay = write_funding(ingest_engine, pd.concat([funding, snaps], ignore_index=True))
    assert (replay.written, replay.rollups) == (0, 0)
    assert write_open_interest(ingest_engine, oi).written == 0
    # a corrected settled rate in the middle, and the newest settled row gaining its mark price
    newest = funding.sort_values("time").groupby("exchange").tail(1).assign(mark_price=123.0)
    middle = funding.iloc[[len(funding) // 2]].assign(funding_rate=lambda f: f["funding_rate"] + 1e-5)
    assert write_funding(ingest_engine, pd.concat([newest, middle], ignore_index=True)).written == len(newest) + 1
    counts = assert_summaries_match_raw(clean_db)
    assert counts["funding_newest"] > 2 * len(set(funding["exchange"])) and counts["open_interest_newest"] > 2


def test_refresh_after_retention_equals_the_raw_rows(clean_db, ingest_engine):
    funding, snaps, oi = _sample()
    write_funding(ingest_engine, pd.concat([funding, snaps], ignore_index=True))
    write_open_interest(ingest_engine, oi)
    cut = funding["time"].quantile(0.3) + pd.Timedelta(minutes=30)  # inside an hour: that hour and day lose rows
    with clean_db.begin() as conn:  # what retention's drop_chunks does: the oldest rows go, one pair entirely
        conn.execute(text("DELETE FROM funding_rates WHERE time < :cut OR symbol = 'ETH/USDT:USDT'"), {"cut": cut})
        conn.execute(text("DELETE FROM open_interest WHERE time < :cut OR symbol = 'ETH/USDT:USDT'"), {"cut": cut})
    with ingest_engine.begin() as conn:
        changed = refresh_summaries(conn, "funding_rates") + refresh_summaries(conn, "open_interest")
    assert changed > 0
    assert_summaries_match_raw(clean_db)
    with ingest_engine.begin() as conn:  # nothing removed since: nothing to change
        assert refresh_summaries(conn, "funding_rates") + refresh_summaries(conn, "open_interest") == 0


def test_retention_of_funding_keeps_the_summaries_equal(clean_db):
    """``apply_retention`` (real ``drop_chunks``) on funding and open interest rows 100 days old and new ones."""
    funding, _, oi = _sample()
    now = pd.Timestamp.now(tz="UTC").floor("h")
    old, new = funding.tail(60), funding.tail(30)
    shifted = pd.concat([old.assign(time=old["time"] - old["time"].max() + now - pd.Timedelta(days=100)),
                         new.assign(time=new["time"] - new["time"].max() + now)], ignore_index=True)  # fmt: skip
    write_funding(clean_db, shifted)
    recent = oi.tail(20)
    write_open_interest(clean_db, pd.concat([
        recent.assign(time=recent["time"] - recent["time"].max() + now - pd.Timedelta(days=100)),
        recent.head(5).assign(time=now)], ignore_index=True))  # fmt: skip
    result = apply_retention(clean_db, load_settings({}))
    assert result.dropped["funding_rates"] > 0 and result.dropped["open_interest"] > 0
    counts = assert_summaries_match_raw(clean_db)
    assert counts["funding_newest"] > 0 and counts["funding_settled_1d"] > 0


def test_rebuild_equals_the_raw_rows(clean_db, ingest_engine):
    funding, snaps, oi = _sample()
    write_funding(ingest_engine, pd.concat([funding, snaps], ignore_index=True))
    write_open_interest(ingest_engine, oi)
    before = assert_summaries_match_raw(clean_db)
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM funding_settled_1h; UPDATE funding_newest SET funding_rate = 0"))
    with ingest_engine.begin() as conn:
        written = rebuild_summaries(conn)
    assert assert_summaries_match_raw(clean_db) == before and written == sum(before.values())
