"""Open interest (issue 8, item 3): real ccxt over HTTP against the fake exchange, real TimescaleDB, the real API.

No licensed Binance open-interest history exists: the fake re-serves Hyperliquid's recorded hourly USD open interest
as the Binance symbol's (``tests/fake_exchange/binance_oi.py``, derived). Expected values are computed here from the
bundled recorded files (the cross-venue open interest and the fake's Binance 1-hour candles) or from SQL."""

from __future__ import annotations

import asyncio
import csv
import gzip
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from app import create_app, with_database
from db.queries import open_interest_series
from ingest.exchange import ExchangeClient
from ingest.normalize import open_interest
from ingest.open_interest import HISTORY_DAYS, backfill_open_interest
from ingest.open_interest_stream import OpenInterestStream
from ingest.pipeline import ingest_open_interest
from ingest.recorded import CROSS_VENUE_OPEN_INTEREST, RECORDED_DIR
from ingest.rows import OpenInterestRow, rows_to_frame
from settings import get_settings, load_settings
from tests.fake_exchange.store import CROSS_VENUE_CANDLES_FILE, DATA_DIR, HOUR_MS

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def _csv(path) -> list[dict]:
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.DictReader(f))


def _expected(coin: str, period_ms: int) -> list[tuple[int, float, float]]:
    """``(time_ms, contracts, value)`` the fake serves for ``<coin>USDT`` up to NOW: Hyperliquid's recorded hourly
    ``oi_usd`` at hours on multiples of ``period_ms`` that have a recorded Binance 1 h candle closing then; contracts
    = value / that candle's close."""
    closes = {int(r["open_time_ms"]) + HOUR_MS: float(r["close"]) for r in _csv(DATA_DIR / CROSS_VENUE_CANDLES_FILE)
              if (r["venue"], r["coin"]) == ("binance", coin)}
    out = []
    for r in _csv(RECORDED_DIR / CROSS_VENUE_OPEN_INTEREST):
        t = int(pd.Timestamp(r["timestamp"]).timestamp() * 1000)
        if (r["venue"], r["coin"]) == ("hyperliquid", coin) and t in closes and t % period_ms == 0 and t <= NOW_MS:
            out.append((t, float(r["oi_usd"]) / closes[t], float(r["oi_usd"])))
    return sorted(out)


def _settings(fake):
    return load_settings({"ALPHAPULSE_EXCHANGE_BASE_URL": fake.url, "ALPHAPULSE_EXCHANGES": "binanceusdm",
                          "ALPHAPULSE_SYMBOLS": "BTC,ETH", "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS": "5"})


def _stored(engine, source: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT * FROM open_interest WHERE source = :s ORDER BY symbol, time"), conn,
                           params={"s": source})


def _poll(fake, engine):
    settings = _settings(fake)
    batches = []

    async def sink(kind, frame, exchange, stream):
        batches.append(frame)

    async def go():
        async with ExchangeClient("binanceusdm", settings) as client:
            await client.load_markets()
            stream = OpenInterestStream(client, [BTC, ETH], marks={}, sink=sink, now=lambda: NOW,
                                        on_error=lambda *_: None)
            await stream.cycle(client, [BTC, ETH])

    asyncio.run(go())
    frame = pd.concat(batches, ignore_index=True)
    return frame, settings


def test_live_poll_stores_the_derived_values_and_replays_write_nothing(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    frame, settings = _poll(fake_exchange, clean_db)
    first = ingest_open_interest(clean_db, frame, settings, now=NOW)
    assert (first.received, first.written, first.rejected_total) == (2, 2, 0)
    stored = _stored(clean_db, "live")
    for symbol, coin in ((BTC, "BTC"), (ETH, "ETH")):
        newest_ms, contracts, _ = _expected(coin, HOUR_MS)[-1]
        row = stored[stored["symbol"] == symbol].iloc[0]
        assert row["time"] == pd.Timestamp(newest_ms, unit="ms", tz="UTC")
        assert row["open_interest_contracts"] == pytest.approx(contracts, rel=1e-10)
        assert row["open_interest_base"] == row["open_interest_contracts"]  # USD-M contractSize is 1
    again = ingest_open_interest(clean_db, frame, settings, now=NOW)
    assert (again.received, again.written) == (2, 0)
    assert len(_stored(clean_db, "live")) == 2


def test_malformed_payload_is_rejected_and_counted_while_the_rest_is_written(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    frame, settings = _poll(fake_exchange, clean_db)
    received = datetime.now(UTC)
    broken = [open_interest("binanceusdm", {"symbol": BTC, "openInterestAmount": "not a number",
                                            "timestamp": int(NOW.timestamp() * 1000)},
                            contract_size=1.0, source="live", received_at=received),
              open_interest("binanceusdm", {"symbol": ETH, "openInterestAmount": -5.0,
                                            "timestamp": int(NOW.timestamp() * 1000)},
                            contract_size=1.0, source="live", received_at=received)]
    batch = pd.concat([frame, rows_to_frame(broken, OpenInterestRow)], ignore_index=True)
    result = ingest_open_interest(clean_db, batch, settings, now=NOW)
    assert result.rejected == {("binanceusdm", BTC, "open_interest_missing"): 1,
                               ("binanceusdm", ETH, "open_interest_invalid"): 1}
    assert result.written == len(frame) == len(_stored(clean_db, "live"))


def test_history_backfill_pages_resumes_and_equals_the_derived_rows(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    settings = _settings(fake_exchange)
    pages = []

    async def sink(kind, frame, exchange, stream):
        pages.append(len(frame))
        await asyncio.to_thread(ingest_open_interest, clean_db, frame, settings, now=NOW)

    async def go():
        async with ExchangeClient("binanceusdm", settings) as client:
            await client.load_markets()
            return await backfill_open_interest(client, clean_db, BTC, NOW, sink, page_limit=50)

    sent = asyncio.run(go())
    start_ms = (NOW - timedelta(days=HISTORY_DAYS)).timestamp() * 1000
    expected = [e for e in _expected("BTC", 4 * HOUR_MS) if start_ms <= e[0] < NOW_MS]
    assert sent == len(expected) and len(pages) > 1 and max(pages) <= 50
    stored = _stored(clean_db, "history")
    assert [int(t.timestamp() * 1000) for t in stored["time"]] == [e[0] for e in expected]
    assert stored["open_interest_contracts"].tolist() == pytest.approx([e[1] for e in expected], rel=1e-10)
    assert stored["open_interest_value"].tolist() == [e[2] for e in expected]  # Hyperliquid's USD value verbatim
    pages.clear()
    assert asyncio.run(go()) == 0 and pages == []  # resumes after the newest stored row: nothing left


@pytest.fixture
def api(clean_db, db_url):
    return create_app(with_database(get_settings(), db_url), with_dashboard=False).test_client()


def test_api_returns_the_database_buckets_and_names_bad_parameters(clean_db, fake_exchange, api):
    fake_exchange.set_now(NOW_MS)
    settings = _settings(fake_exchange)

    async def sink(kind, frame, exchange, stream):
        await asyncio.to_thread(ingest_open_interest, clean_db, frame, settings, now=NOW)

    async def go():
        async with ExchangeClient("binanceusdm", settings) as client:
            await client.load_markets()
            await backfill_open_interest(client, clean_db, BTC, NOW, sink)

    asyncio.run(go())
    start, end = "2026-02-20T00:00Z", "2026-02-27T00:00Z"
    body = api.get("/api/open-interest", query_string={"exchange": "binanceusdm", "symbols": BTC, "start": start,
                                                       "end": end, "bucket": "1d"}).get_json()
    with clean_db.connect() as conn:
        expected = conn.execute(text(
            "SELECT time_bucket('1 day', time) AS t, last(open_interest_contracts, time), "
            "last(open_interest_value, time), count(*) FROM open_interest WHERE symbol = :s "
            "AND time >= :a AND time < :b GROUP BY 1 ORDER BY 1"), {"s": BTC, "a": start, "b": end}).all()
        frame = open_interest_series(conn, ["binanceusdm"], [BTC], pd.Timestamp(start).to_pydatetime(),
                                     pd.Timestamp(end).to_pydatetime(), timedelta(days=1))
    assert len(body["data"]) == len(expected) == len(frame) == 7
    for got, (t, contracts, value, rows) in zip(body["data"], expected, strict=True):
        assert pd.Timestamp(got["time"]) == pd.Timestamp(t)
        assert got["open_interest_contracts"] == pytest.approx(contracts, rel=1e-14)
        assert got["open_interest_value"] == pytest.approx(value, rel=1e-14)
        assert got["rows"] == rows
    for query, parameter in (("bucket=7m", "bucket"), ("start=yesterday-ish", "start"),
                             ("exchange=nowhere", "exchange"), ("colour=red", "colour")):
        response = api.get(f"/api/open-interest?{query}")
        assert response.status_code in (400, 404), (query, response.status_code)
        assert response.get_json()["parameter"] == parameter


def test_recorded_open_interest_loads_with_the_recorded_usd_values(clean_db):
    from ingest.recorded import read_open_interest

    settings = get_settings()
    frame = read_open_interest()
    first = ingest_open_interest(clean_db, frame, settings)
    assert first.written == len(frame) and first.rejected_total == 0
    assert ingest_open_interest(clean_db, frame, settings).written == 0
    with gzip.open(RECORDED_DIR / CROSS_VENUE_OPEN_INTEREST, "rt", newline="") as f:
        hyperliquid_btc = [r for r in csv.DictReader(f) if r["venue"] == "hyperliquid" and r["coin"] == "BTC"]
    stored = _stored(clean_db, "recorded")
    btc = stored[(stored["exchange"] == "hyperliquid") & (stored["symbol"] == "BTC/USDC:USDC")]
    assert btc["open_interest_value"].tolist() == [float(r["oi_usd"]) for r in hyperliquid_btc]
    assert [t.isoformat() for t in btc["time"]] == [pd.Timestamp(r["timestamp"]).isoformat() for r in hyperliquid_btc]
    assert btc["open_interest_contracts"].isna().all()


def test_series_at_the_edges_of_each_pairs_catalogue_span_equals_sql(clean_db):
    """The series reads only pairs whose ``pair_extents`` span meets the window: windows that end at a pair's
    first row, start at its last row or miss it, and a listed pair without open interest, against plain SQL."""
    from ingest.recorded import read_open_interest

    ingest_open_interest(clean_db, read_open_interest(), get_settings())
    hour = timedelta(hours=1)
    with clean_db.connect() as conn:
        first, last = conn.execute(text("SELECT first_time, last_time FROM pair_extents WHERE exchange = 'hyperliquid'"
                                        " AND symbol = 'BTC/USDC:USDC' AND stream = 'open_interest'")).one()
        pairs = (["hyperliquid", "lighter", "binanceusdm"], ["BTC/USDC:USDC", "ETH/USDC:USDC", BTC])
        for start, end in ((first - 3 * hour, first), (first - 3 * hour, first + hour), (last, last + 5 * hour),
                           (last + hour, last + 9 * hour), (first, first + timedelta(days=9))):
            frame = open_interest_series(conn, *pairs, start, end, hour)
            expected = conn.execute(text(
                "SELECT exchange, symbol, time_bucket('1 hour', time), last(open_interest_value, time), count(*) "
                "FROM open_interest WHERE exchange = ANY(:e) AND symbol = ANY(:s) AND time >= :a AND time < :b "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"), {"e": pairs[0], "s": pairs[1], "a": start, "b": end}).all()
            got = list(zip(frame["exchange"], frame["symbol"], frame["time"], frame["open_interest_value"],
                           frame["rows"], strict=True))
            assert got == [tuple(row) for row in expected], (start, end)
            btc = {t for e, s, t, *_ in got if (e, s) == ("hyperliquid", "BTC/USDC:USDC")}
            assert (first in btc) == (start <= first < end) and (last in btc) == (start <= last < end), (start, end)
