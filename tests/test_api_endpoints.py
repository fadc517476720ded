"""The JSON API through Flask's test client on the bundled real history: every value an endpoint returns equals
what an independent SQL query reads from the same database."""

from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app import create_app, with_database
from app.serialize import tidy_floats
from db import queries
from db.queries import align_range
from db.writes.extents import rebuild_extents
from settings import get_settings

EXCHANGE = "binanceusdm"


@pytest.fixture(scope="module")
def client(recorded_db_url):
    return create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False).test_client()


@pytest.fixture
def conn(recorded_engine):
    with recorded_engine.connect() as c:
        yield c


def sql_frame(conn, sql: str, **params) -> pd.DataFrame:
    result = conn.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in frame.columns:
        if col.endswith("time"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def records(response) -> pd.DataFrame:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    frame = pd.DataFrame(response.get_json()["data"])
    for col in frame.columns:
        if col.endswith("time"):
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_symbols_lists_every_pair_with_its_extent(client, conn):
    got = records(client.get("/api/symbols"))
    want = sql_frame(conn, "SELECT exchange, symbol, min(time) AS first_time, max(time) AS last_time FROM ("
                           "SELECT exchange, symbol, time FROM funding_rates UNION ALL "
                           "SELECT exchange, symbol, time FROM prices) x GROUP BY 1, 2 ORDER BY 1, 2")  # fmt: skip
    assert list(zip(got["exchange"], got["symbol"], strict=True)) == list(
        zip(want["exchange"], want["symbol"], strict=True)
    )
    np.testing.assert_array_equal(got["first_time"].to_numpy(), want["first_time"].to_numpy())
    np.testing.assert_array_equal(got["last_time"].to_numpy(), want["last_time"].to_numpy())
    assert all(d == s.split(":")[0] for d, s in zip(got["display"], got["symbol"], strict=True))
    with_prices = set(conn.execute(text("SELECT DISTINCT exchange || ' ' || symbol FROM prices")).scalars())
    for row in got.itertuples():
        assert ("ohlcv" in row.streams) == (f"{row.exchange} {row.symbol}" in with_prices)


def test_funding_rates_equal_bucket_means(client, conn):
    start, end = datetime(2025, 5, 25, tzinfo=UTC), datetime(2025, 6, 24, 12, tzinfo=UTC)
    response = client.get(f"/api/funding-rates?exchange={EXCHANGE}&symbols=BTC,ETHUSDT&start={iso(start)}"
                          f"&end={iso(end)}&bucket=1h")  # fmt: skip
    got = records(response)
    meta = response.get_json()["meta"]
    assert meta["bucket"] == "1h" and meta["symbols"] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    want = sql_frame(conn, "SELECT time, symbol, settled, funding_rate, funding_interval_hours FROM funding_rates "
                           "WHERE exchange = :e AND symbol IN ('BTC/USDT:USDT', 'ETH/USDT:USDT') AND time >= :a "
                           "AND time < :b", e=EXCHANGE, a=start, b=end)  # fmt: skip
    want["time"] = want["time"].dt.floor("1h")
    want = want.groupby(["symbol", "settled", "time"], as_index=False)["funding_rate"].mean()
    merged = got.merge(want, on=["symbol", "settled", "time"], suffixes=("", "_want"))
    assert len(merged) == len(got) == len(want) > 0
    np.testing.assert_allclose(merged["funding_rate"], merged["funding_rate_want"], rtol=1e-12)


def test_prices_at_one_minute_equal_the_stored_candles_in_json_and_csv(client, conn):
    end = conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' "
                             "AND symbol = 'SOL/USDT:USDT'")).scalar()
    start = end - timedelta(hours=6)
    url = f"/api/prices?exchange={EXCHANGE}&symbols=SOL/USDT&start={iso(start)}&end={iso(end)}"
    got = records(client.get(url))
    csv = client.get(url + "&format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    from_csv = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), parse_dates=["time"])
    want = sql_frame(conn, "SELECT time, open, high, low, close, volume FROM prices WHERE exchange = :e AND symbol = "
                           "'SOL/USDT:USDT' AND timeframe = '1m' AND time >= :a AND time < :b ORDER BY time",
                     e=EXCHANGE, a=start, b=end)  # fmt: skip
    assert len(got) == len(from_csv) == len(want) == 360
    for frame in (got, from_csv):
        np.testing.assert_array_equal(pd.to_datetime(frame["time"], utc=True).to_numpy(), want["time"].to_numpy())
        for col in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(frame[col].to_numpy(), want[col].to_numpy())


def test_prices_over_thirty_days_are_hourly_from_rollups(client, conn):
    end = conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' "
                             "AND symbol = 'BTC/USDT:USDT'")).scalar()
    start = end - timedelta(days=30)
    response = client.get(f"/api/prices?exchange={EXCHANGE}&symbols=btc&start={iso(start)}&end={iso(end)}")
    got = records(response)
    assert response.get_json()["meta"]["bucket"] == "1h" and set(got["source_timeframe"]) == {"1h"}
    lo, hi = align_range(start, end, timedelta(hours=1))
    minutes = sql_frame(conn, "SELECT time, high, low, volume FROM prices WHERE exchange = :e AND symbol = "
                              "'BTC/USDT:USDT' AND timeframe = '1m' AND time >= :a AND time < :b",
                        e=EXCHANGE, a=lo, b=hi)  # fmt: skip
    hourly = minutes.groupby(minutes["time"].dt.floor("1h")).agg(high=("high", "max"), low=("low", "min"),
                                                                 volume=("volume", "sum"))  # fmt: skip
    got = got.set_index("time")
    assert list(got.index) == list(hourly.index)
    np.testing.assert_allclose(got[["high", "low", "volume"]], hourly[["high", "low", "volume"]], rtol=1e-9)


def test_anomalies_equal_the_table(client, conn):
    start, end = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 24, tzinfo=UTC)
    got = records(client.get(f"/api/anomalies?symbols=ETH&exchange={EXCHANGE}&start={iso(start)}&end={iso(end)}"
                             "&metric=log_volume_1m,log_return_1m&min_abs_z=6&limit=50"))  # fmt: skip
    want = sql_frame(conn, "SELECT time, metric, method, value, centre, spread, z_score, threshold, \"window\" "
                           "FROM anomalies WHERE exchange = :e AND symbol = 'ETH/USDT:USDT' AND metric IN "
                           "('log_volume_1m', 'log_return_1m') AND abs(z_score) >= 6 AND time >= :a AND time < :b "
                           "ORDER BY time DESC, metric, method LIMIT 50", e=EXCHANGE, a=start, b=end)  # fmt: skip
    assert len(got) == len(want) > 0
    got = got.sort_values(["time", "metric", "method"], ignore_index=True)
    want = want.sort_values(["time", "metric", "method"], ignore_index=True)
    for col in ("time", "metric", "method", "threshold", "window"):
        np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy())
    for col in ("value", "centre", "spread", "z_score"):  # the API writes 15 significant digits (app.serialize)
        np.testing.assert_array_equal(got[col].to_numpy(), tidy_floats(want[col].to_numpy(dtype="float64")))


def test_anomalies_strongest_first_and_one_row_per_observation(client, conn):
    start, end = datetime(2025, 3, 8, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)
    got = records(client.get(f"/api/anomalies?exchange=hyperliquid&start={iso(start)}&end={iso(end)}"
                             "&metric=funding_rate&sort=strongest&limit=20"))  # fmt: skip
    want = sql_frame(conn, "SELECT time, symbol, z_score FROM anomalies WHERE exchange = 'hyperliquid' AND "
                           "metric = 'funding_rate' AND time >= :a AND time < :b ORDER BY abs(z_score) DESC, time DESC "
                           "LIMIT 20", a=start, b=end)  # fmt: skip
    assert len(got) == 20 and not got.duplicated(["time", "symbol"]).any()
    np.testing.assert_array_equal(got["z_score"].abs().to_numpy(), tidy_floats(want["z_score"].abs().to_numpy()))
    bad = client.get(f"/api/anomalies?start={iso(start)}&end={iso(end)}&sort=loudest")
    assert bad.status_code == 400 and "sort" in bad.get_data(as_text=True)


def test_anomaly_counts_give_the_time_of_the_max_abs_z(conn):
    start, end = datetime(2025, 3, 8, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)
    counts = queries.anomaly_counts(conn, None, None, start, end)
    want = sql_frame(conn, "SELECT DISTINCT ON (exchange, symbol, metric) exchange, symbol, metric, time AS max_z_time "
                           "FROM anomalies WHERE time >= :a AND time < :b "
                           "ORDER BY exchange, symbol, metric, abs(z_score) DESC, time DESC",
                     a=start, b=end)  # fmt: skip
    merged = counts.merge(want, on=["exchange", "symbol", "metric"], suffixes=("", "_sql"))
    assert len(merged) == len(counts) > 5
    assert (merged["max_z_time"] == merged["max_z_time_sql"]).all()
    assert (merged["max_z_time"] != merged["newest"]).any()  # the badge time is not the newest anomaly's


def test_empty_range_reports_where_the_data_is(client, conn):
    response = client.get("/api/prices?symbols=BTC&start=2026-11-01T00:00:00Z&end=2026-11-02T00:00:00Z")
    body = response.get_json()
    assert response.status_code == 200 and body["data"] == []
    # a bare BTC names the coin's perpetual on every venue (BTC/USDT:USDT, Hyperliquid's BTC/USDC:USDC, BTC/USD:USD …)
    first, last = conn.execute(text("SELECT min(time), max(time) FROM (SELECT time FROM prices WHERE symbol LIKE "
                                    "'BTC/%' UNION ALL SELECT time FROM funding_rates WHERE symbol LIKE 'BTC/%') x")
                               ).one()  # fmt: skip
    extent = body["meta"]["data_extent"]
    assert pd.Timestamp(extent["first_time"]) == first and pd.Timestamp(extent["last_time"]) == last


def test_health_reports_down_with_only_old_history(client, conn):
    response = client.get("/api/health")
    body = response.get_json()
    assert response.status_code == 503 and body["status"] == "down"
    version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
    assert body["database"] == {"reachable": True, "timescaledb_version": version,
                                "timescaledb_license": body["database"]["timescaledb_license"]}  # fmt: skip
    newest = conn.execute(text("SELECT max(time) FROM funding_rates WHERE exchange = :e"), {"e": EXCHANGE}).scalar()
    feed = next(f for f in body["feeds"] if f["exchange"] == EXCHANGE and f["stream"] == "funding")
    assert pd.Timestamp(feed["newest_time"]) == newest and feed["status"] == "down"


def test_health_is_ok_with_fresh_rows_and_503_without_database(clean_db, db_url, caplog):
    now = datetime.now(UTC)
    with clean_db.begin() as c:
        for exchange in ("binanceusdm", "bybit"):
            c.execute(
                text(
                    "INSERT INTO funding_rates (time, exchange, symbol, settled, funding_rate) "
                    "VALUES (:t, :e, 'BTC/USDT:USDT', false, 0.0001)"
                ),
                {"t": now, "e": exchange},
            )
            c.execute(text("INSERT INTO prices (time, exchange, symbol, timeframe, open, high, low, close) "
                           "VALUES (:t, :e, 'BTC/USDT:USDT', '1m', 1, 1, 1, 1)"),
                      {"t": now - timedelta(minutes=1), "e": exchange})  # fmt: skip
        rebuild_extents(c)  # rows written around db.writes
    settings = replace(with_database(get_settings(), db_url), exchanges=("binanceusdm", "bybit"))
    ok = create_app(settings, with_dashboard=False).test_client().get("/api/health")
    assert ok.status_code == 200 and ok.get_json()["status"] == "ok"
    assert {f["status"] for f in ok.get_json()["feeds"]} == {"ok"}
    unreachable = with_database(settings, "postgresql+psycopg://nobody@127.0.0.1:1/secret_db_name")
    with caplog.at_level(logging.WARNING, logger="app.api"):
        down = create_app(unreachable, with_dashboard=False).test_client().get("/api/health")
    assert down.status_code == 503 and down.get_json()["database"]["reachable"] is False
    # Issue 12, item 11: no driver text (host, port, database name) to anonymous clients; the detail is logged.
    body = down.get_data(as_text=True)
    assert not any(word in body for word in ("secret_db_name", "127.0.0.1", "psycopg", "connection"))
    assert down.get_json()["database"]["error"] and "127.0.0.1" in caplog.text
    history = create_app(unreachable, with_dashboard=False).test_client().get("/api/symbols")
    assert history.status_code == 503 and "database" in history.get_json()["error"]


def test_a_healthy_candle_feed_polled_every_5_s_is_ok(clean_db, db_url):
    """Issue 12, item 10: a 1-minute candle is up to a minute old by nature; with a 5 s poll the feed's expected
    cadence is its data period (60 s), not the poll, so a candle closed 58 s ago is ok (it was ``down``)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with clean_db.begin() as c:
        c.execute(
            text(
                "INSERT INTO funding_rates (time, exchange, symbol, settled, funding_rate) "
                "VALUES (:t, :e, 'BTC/USDT:USDT', false, 0.0001)"
            ),
            {"t": now - timedelta(seconds=2), "e": EXCHANGE},
        )
        c.execute(
            text(
                "INSERT INTO prices (time, exchange, symbol, timeframe, open, high, low, close) "
                "VALUES (:t, :e, 'BTC/USDT:USDT', '1m', 1, 1, 1, 1)"
            ),
            {"t": now - timedelta(seconds=58 + 60), "e": EXCHANGE},
        )  # opened 118 s ago, closed 58 s ago
        rebuild_extents(c)  # rows written around db.writes
    settings = replace(
        with_database(get_settings(), db_url), exchanges=(EXCHANGE,), ohlcv_poll_seconds=5.0, funding_poll_seconds=5.0
    )
    body = create_app(settings, with_dashboard=False).test_client().get("/api/health").get_json()
    feeds = {f["stream"]: f for f in body["feeds"]}
    assert feeds["ohlcv"]["cadence_seconds"] == 60.0 and feeds["funding"]["cadence_seconds"] == 5.0
    assert feeds["ohlcv"]["status"] == "ok" and body["status"] == "ok", body
    assert 58 <= feeds["ohlcv"]["lag_seconds"] < 70


def test_metrics_endpoints_show_the_newest_pipeline_metrics(clean_db, db_url):
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    rows = [{"t": t0 + timedelta(seconds=5 * i), "v": 0.1 * i, "l": json.dumps({"exchange": "bybit", "stream": s})}
            for i in range(6) for s in ("funding", "ohlcv")]  # fmt: skip
    with clean_db.begin() as c:
        c.execute(
            text(
                "INSERT INTO system_metrics (time, metric, value, unit, labels) "
                "VALUES (:t, 'fetch_latency_seconds', :v, 'seconds', CAST(:l AS jsonb))"
            ),
            rows,
        )
    client = create_app(with_database(get_settings(), db_url), with_dashboard=False).test_client()
    latest = records(client.get("/api/metrics"))
    assert len(latest) == 2 and set(latest["value"]) == {rows[-1]["v"]}
    assert set(latest["metric"]) == {"fetch_latency_seconds"} and set(latest["unit"]) == {"seconds"}
    assert {labels["stream"] for labels in latest["labels"]} == {"funding", "ohlcv"}
    prom = client.get("/metrics")
    assert prom.status_code == 200 and prom.mimetype == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(prom.get_data(as_text=True))}
    samples = families["alphapulse_pipeline_fetch_latency_seconds"].samples
    assert {(s.labels["stream"], s.value) for s in samples} == {("funding", rows[-1]["v"]), ("ohlcv", rows[-1]["v"])}
    status = families["alphapulse_health_status"].samples
    health = client.get("/api/health").get_json()["status"]
    assert {s.labels["status"] for s in status if s.value == 1.0} == {health}


def test_rate_limit_answers_429_in_json_and_spares_health(recorded_db_url):
    settings = replace(with_database(get_settings(), recorded_db_url), api_rate_limit="2 per minute")
    client = create_app(settings, with_dashboard=False).test_client()
    responses = [client.get("/api/metrics") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].get_json()["status"] == 429 and "2 per 1 minute" in responses[-1].get_json()["error"]
    assert all(client.get("/api/health").status_code == 503 for _ in range(3))  # old history: down, not limited


def test_large_responses_are_compressed_when_the_client_accepts_it(client, conn):
    end = conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' "
                             "AND symbol = 'ETH/USDT:USDT'")).scalar()
    url = f"/api/prices?symbols=ETH&start={iso(end - timedelta(hours=24))}&end={iso(end)}"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert plain.headers.get("Content-Encoding") is None
    assert packed.headers["Content-Encoding"] == "gzip" and len(packed.data) < len(plain.data) / 4
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
