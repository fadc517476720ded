"""Pipeline metrics and feed health read by ``db.queries`` and ``db.health``: latest metrics and metric series
against the rows inserted here, the status rules, and each feed's lag from its newest rows (catalogue and probes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from db import queries
from db.health import DOWN_CADENCES, OK_CADENCES, Status, feed_status, overall_status
from db.writes.extents import rebuild_extents


def _insert_metrics(engine, rows):
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO system_metrics (time, metric, value, unit, labels) "
                          "VALUES (:time, :metric, :value, :unit, CAST(:labels AS jsonb))"), rows)  # fmt: skip


def test_latest_metrics_and_metric_series(clean_db):
    t0 = datetime(2025, 6, 24, 10, 0, tzinfo=UTC)
    rows = [
        {"time": t0 + timedelta(seconds=5 * i), "metric": "rows_written", "value": float(i), "unit": "rows",
         "labels": f'{{"exchange": "{ex}", "stream": "ohlcv"}}'}
        for i in range(120) for ex in ("binanceusdm", "bybit")
    ]  # fmt: skip
    _insert_metrics(clean_db, rows)
    with clean_db.connect() as conn:
        latest = queries.latest_metrics(conn)
        series = queries.metric_series(conn, "rows_written", t0, t0 + timedelta(minutes=10), timedelta(minutes=1))
    assert len(latest) == 2 and set(latest["value"]) == {119.0}
    assert {labels["exchange"] for labels in latest["labels"]} == {"binanceusdm", "bybit"}
    frame = pd.DataFrame(rows)
    frame = frame[frame["labels"].str.contains("bybit")]
    want = frame.groupby(frame["time"].map(lambda t: t.replace(second=0)))["value"].mean()
    got = series[series["exchange"] == "bybit"].set_index("time")["value"]
    assert list(got.index) == [pd.Timestamp(t) for t in want.index]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy())


def test_metric_series_many_equals_one_metric_series_per_metric(clean_db):
    """The System page's charts in one statement: each metric with its own aggregate, as metric_series reads it
    alone; a metric without samples comes back empty."""
    t0 = datetime(2025, 6, 24, 10, 0, tzinfo=UTC)
    rows = [
        {"time": t0 + timedelta(seconds=5 * i), "metric": metric, "value": float(i % 7) * scale, "unit": unit,
         "labels": f'{{"exchange": "{ex}", "stream": "ohlcv"}}'}
        for i in range(120) for ex in ("binanceusdm", "bybit")
        for metric, unit, scale in (("rows_written", "rows", 3.0), ("write_latency_seconds", "seconds", 0.01))
    ]  # fmt: skip
    _insert_metrics(clean_db, rows)
    wanted = {"rows_written": "sum", "write_latency_seconds": "avg", "fetch_errors": "sum"}
    window = (t0, t0 + timedelta(minutes=10), timedelta(minutes=1))
    with clean_db.connect() as conn:
        together = queries.metric_series_many(conn, wanted, *window)
        alone = {name: queries.metric_series(conn, name, *window, agg=agg) for name, agg in wanted.items()}
    assert together["fetch_errors"].empty and alone["fetch_errors"].empty
    for name in ("rows_written", "write_latency_seconds"):
        assert len(together[name]) == 20  # 10 buckets x 2 label sets
        pd.testing.assert_frame_equal(together[name], alone[name])
    bybit = together["rows_written"].query("exchange == 'bybit'")
    assert bybit["value"].iloc[0] == sum(float(i % 7) * 3.0 for i in range(12))  # the first minute's 12 samples
    with pytest.raises(ValueError, match="agg must be one of"), clean_db.connect() as conn:
        queries.metric_series_many(conn, {"rows_written": "median"}, *window)


@pytest.mark.parametrize(
    ("lag_cadences", "status"),
    [(0.0, Status.OK), (OK_CADENCES, Status.OK), (OK_CADENCES + 0.5, Status.DEGRADED),
     (DOWN_CADENCES, Status.DEGRADED), (DOWN_CADENCES + 1, Status.DOWN), (None, Status.DOWN)],
)  # fmt: skip
def test_feed_status_rules(lag_cadences, status):
    lag = None if lag_cadences is None else lag_cadences * 60.0
    assert feed_status(lag, 60.0) == status


def test_overall_status_rules():
    assert overall_status([Status.OK, Status.OK]) == Status.OK
    assert overall_status([Status.OK, Status.DOWN]) == Status.DEGRADED
    assert overall_status([Status.DOWN, Status.DOWN]) == Status.DOWN
    assert overall_status([]) == Status.DOWN
    assert overall_status([Status.OK], database_ok=False) == Status.DOWN


def _insert_btc_rows(conn, funding_time: datetime, candle_time: datetime) -> None:
    """One predicted Binance BTC funding row and one 1-minute candle (open time), with plain SQL."""
    conn.execute(text("INSERT INTO funding_rates (time, exchange, symbol, settled, funding_rate) VALUES "
                      "(:t, 'binanceusdm', 'BTC/USDT:USDT', false, 0.0001)"), {"t": funding_time})  # fmt: skip
    conn.execute(text("INSERT INTO prices (time, exchange, symbol, timeframe, open, high, low, close) VALUES "
                      "(:t, 'binanceusdm', 'BTC/USDT:USDT', '1m', 1, 1, 1, 1)"), {"t": candle_time})  # fmt: skip


def test_feed_health_measures_lag_from_newest_rows(clean_db):
    now = datetime(2025, 6, 24, 12, 0, tzinfo=UTC)
    with clean_db.begin() as conn:
        _insert_btc_rows(conn, now - timedelta(seconds=30), now - timedelta(minutes=6))
        rebuild_extents(conn)  # rows written around db.writes
    with clean_db.connect() as conn:
        fh = queries.feed_health(conn, now, ["binanceusdm", "bybit"], {"funding": 60.0, "ohlcv": 60.0})
    feeds = fh.feeds.set_index(["exchange", "stream"])
    assert feeds.loc[("binanceusdm", "funding"), "lag_seconds"] == 30.0
    assert feeds.loc[("binanceusdm", "funding"), "status"] == Status.OK
    assert feeds.loc[("binanceusdm", "ohlcv"), "lag_seconds"] == 300.0  # candle open + 1 min
    assert feeds.loc[("binanceusdm", "ohlcv"), "status"] == Status.DEGRADED
    assert feeds.loc[("bybit", "ohlcv"), "status"] == Status.DOWN
    assert fh.status == Status.DEGRADED


def test_feed_health_reprobes_silent_streams_and_keeps_the_newer_time(clean_db):
    """A stream silent longer than HEALTH_LOOKBACK is found by the unbounded probe (or ``older``, e.g. a cached
    answer); the other stream of the same exchange keeps its recent time even when ``older`` is out of date."""
    now = datetime(2025, 6, 24, 12, 0, tzinfo=UTC)
    old_candle = now - timedelta(days=3)
    with clean_db.begin() as conn:
        _insert_btc_rows(conn, now - timedelta(seconds=30), old_candle)
        rebuild_extents(conn)  # rows written around db.writes
    cadences = {"funding": 60.0, "ohlcv": 60.0}
    asked = []

    def stale_answer(stale):  # what a cache filled a while ago would return: funding older than it is now
        asked.append(stale)
        return {"binanceusdm": {"funding": now - timedelta(days=5), "ohlcv": old_candle + timedelta(minutes=1)}}

    with clean_db.connect() as conn:
        direct = queries.feed_health(conn, now, ["binanceusdm"], cadences).feeds.set_index("stream")
        cached = queries.feed_health(conn, now, ["binanceusdm"], cadences, older=stale_answer).feeds.set_index("stream")
        unbounded = queries.newest_times(conn, [("binanceusdm", "BTC/USDT:USDT")], now)
    assert asked == [[("binanceusdm", "BTC/USDT:USDT")]]
    for feeds in (direct, cached):
        assert feeds.loc["funding", "lag_seconds"] == 30.0
        assert feeds.loc["ohlcv", "newest_time"] == old_candle + timedelta(minutes=1)
        assert feeds.loc["ohlcv", "status"] == Status.DOWN
    assert unbounded == {
        "binanceusdm": {"funding": now - timedelta(seconds=30), "ohlcv": old_candle + timedelta(minutes=1)}
    }
