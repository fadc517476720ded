"""The refresh fingerprint (``db.queries.window_fingerprint``) changes with every write into a view's drawn buckets
and not with writes elsewhere, for views read from rollups (7 days: 15-minute buckets) and from raw rows (24 hours).

Real TimescaleDB; bundled recorded funding (Binance 8-hourly, Hyperliquid hourly) and 1-minute candles of BTC
written through ``db.writes`` as the ingest role, some held back and written later (backfill) or written again with
other values (corrections); expected counts and newest times from SQL on the raw tables.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from db.queries import window_fingerprint
from db.queries.fingerprint import CANDLE_ROLLUPS
from db.writes import write_candles, write_funding
from db.writes.candles import ROLLUP_WIDTHS
from ingest.recorded import read_funding, read_klines_1m

BTC = ("BTC/USDT:USDT", "BTC/USDC:USDC")
EXCHANGES = ["binanceusdm", "hyperliquid"]
#: A week (15-minute buckets: rollups) and a day (1-minute buckets: raw rows) inside the recorded candles.
WEEK = (datetime(2025, 6, 13, tzinfo=UTC), datetime(2025, 6, 20, 0, 7, tzinfo=UTC))
DAY = (datetime(2025, 6, 15, tzinfo=UTC), datetime(2025, 6, 16, tzinfo=UTC))
#: Rows held back: inside the week only, and outside both windows.
INSIDE = (pd.Timestamp("2025-06-17 12:00", tz="UTC"), pd.Timestamp("2025-06-17 12:10", tz="UTC"))
OUTSIDE = (pd.Timestamp("2025-06-11 12:00", tz="UTC"), pd.Timestamp("2025-06-11 12:10", tz="UTC"))


def _sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    funding = read_funding()
    funding = funding[funding["exchange"].isin(EXCHANGES) & funding["symbol"].isin(BTC)
                      & (funding["time"] >= "2025-06-10") & (funding["time"] < "2025-06-22")]  # fmt: skip
    candles = read_klines_1m()
    candles = candles[(candles["symbol"] == BTC[0]) & (candles["time"] >= "2025-06-10")
                      & (candles["time"] < "2025-06-22")]  # fmt: skip
    return funding.reset_index(drop=True), candles.reset_index(drop=True)


def _held(frame: pd.DataFrame, span) -> pd.Series:
    return (frame["time"] >= span[0]) & (frame["time"] < span[1])


def _fingerprints(engine) -> dict:
    with engine.connect() as conn:
        return {w: window_fingerprint(conn, EXCHANGES, list(BTC), *w) for w in (WEEK, DAY)}


def _raw_count(conn, table: str, lo, hi) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table} WHERE symbol = ANY(:s) AND exchange = ANY(:e) "
                             "AND time >= :lo AND time < :hi"), {"s": list(BTC), "e": EXCHANGES, "lo": lo,
                                                                  "hi": hi}).scalar_one()  # fmt: skip


def _newest(conn, table: str, start, end):
    return conn.execute(text(f"SELECT max(time) FROM {table} WHERE symbol = ANY(:s) AND exchange = ANY(:e) "
                             "AND time >= :lo AND time < :hi"), {"s": list(BTC), "e": EXCHANGES, "lo": start,
                                                                  "hi": end}).scalar_one()  # fmt: skip


@pytest.fixture
def written(clean_db, ingest_engine):
    """The sample written but the rows of :data:`INSIDE` and :data:`OUTSIDE`; returns ``(funding, candles)``."""
    funding, candles = _sample()
    hourly = funding["exchange"] == "hyperliquid"  # an hourly venue: a settlement in each held-back span
    assert (_held(funding, INSIDE) & hourly).any() and (_held(funding, OUTSIDE) & hourly).any()
    write_funding(ingest_engine, funding[~_held(funding, INSIDE) & ~_held(funding, OUTSIDE)])
    write_candles(ingest_engine, candles[~_held(candles, INSIDE) & ~_held(candles, OUTSIDE)])
    return funding, candles


def test_versions_count_the_drawn_rows_and_newest_is_the_newest_row(written, clean_db):
    got = _fingerprints(clean_db)
    with clean_db.connect() as conn:
        week_lo, week_hi = WEEK[0], datetime(2025, 6, 20, 0, 15, tzinfo=UTC)  # the drawn 15-minute buckets
        funding_rows = got[WEEK]["funding_rates"][0][1]  # the 15-minute rollup's sum of rows
        assert funding_rows == _raw_count(conn, "funding_rates", week_lo, week_hi) > 0
        for table in ("funding_rates", "prices", "anomalies"):
            assert got[WEEK][table][1] == _newest(conn, table, *WEEK)
            assert got[DAY][table][1] == _newest(conn, table, *DAY)
        assert got[DAY]["prices"][0][0] == _raw_count(conn, "prices", *DAY) > 1440  # 1-minute rows and rollups
        assert got[DAY]["funding_rates"][0][0] == _raw_count(conn, "funding_rates", *DAY) > 0
    assert got[WEEK]["prices"][1] == datetime(2025, 6, 20, 0, 6, tzinfo=UTC)


def test_writes_into_the_drawn_buckets_change_it_and_others_do_not(written, clean_db, ingest_engine):
    funding, candles = written
    before = _fingerprints(clean_db)
    write_funding(ingest_engine, funding[_held(funding, OUTSIDE)])  # backfill before both windows
    write_candles(ingest_engine, candles[_held(candles, OUTSIDE)])
    write_candles(ingest_engine, candles[_held(candles, (WEEK[0], DAY[0]))])  # a replay inside: nothing written
    assert _fingerprints(clean_db) == before
    write_funding(ingest_engine, funding[_held(funding, INSIDE)])  # backfill into the week, after the day
    after_funding = _fingerprints(clean_db)
    assert after_funding[WEEK]["funding_rates"] != before[WEEK]["funding_rates"]
    assert after_funding[WEEK]["prices"] == before[WEEK]["prices"] and after_funding[DAY] == before[DAY]
    write_candles(ingest_engine, candles[_held(candles, INSIDE)])
    after_candles = _fingerprints(clean_db)
    assert after_candles[WEEK]["prices"] != before[WEEK]["prices"] and after_candles[DAY] == before[DAY]


@pytest.mark.parametrize("window", [WEEK, DAY], ids=["week", "day"])
def test_corrections_in_the_window_change_it(written, clean_db, ingest_engine, window):
    funding, candles = written
    before = _fingerprints(clean_db)[window]
    at = window[0] + timedelta(hours=10)
    candle = candles[candles["time"] == at - timedelta(minutes=1)].copy()  # the last minute of a 15-minute bucket
    candle["close"] = candle["close"] * 1.001
    candle["high"] = candle[["high", "close"]].max(axis=1)
    write_candles(ingest_engine, candle)
    after_candle = _fingerprints(clean_db)[window]
    assert after_candle["prices"] != before["prices"] and after_candle["funding_rates"] == before["funding_rates"]
    settled = funding[(funding["exchange"] == "hyperliquid") & (funding["time"] >= at)].head(1).copy()
    settled["funding_rate"] = settled["funding_rate"] + 1e-6
    write_funding(ingest_engine, settled)
    assert _fingerprints(clean_db)[window]["funding_rates"] != after_candle["funding_rates"]


def test_the_candle_rollups_read_are_those_the_writes_keep():
    """``db.queries`` may not import the write side (the app imports it): the widths are repeated, so compared."""
    assert {name: width.to_pytimedelta() for name, width in ROLLUP_WIDTHS.items()} == CANDLE_ROLLUPS
