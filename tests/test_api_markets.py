"""The market-wide endpoints (issue 8, item 10) on the bundled cross-venue history: answers equal the query
functions and SQL on the tables, CSV carries the same rows, a bare coin resolves on every venue, and bad
parameters are a JSON 400/404 naming the parameter. Premium: real ccxt polls the fake exchange's ``premiumIndex``
(derived from recorded rows: no index price is recorded) into a clean database."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from app import create_app, with_database
from db.queries import accumulated_funding, funding_heatmap, funding_snapshot, premium_series, spread_history
from ingest.exchange import ExchangeClient
from ingest.normalize import predicted_funding
from ingest.pipeline import ingest_funding
from ingest.recorded import VENUES as RECORDED_VENUES
from ingest.rows import FundingRow, rows_to_frame
from settings import get_settings, load_settings
from tests.fake_exchange.store import DEFAULT_NOW_MS
from tests.ingest_helpers import HOUR_MS, recorded_funding_state

#: The bundled cross-venue data's venues (ccxt ids) and their BTC perpetuals.
VENUES = {v.exchange for v in RECORDED_VENUES.values()}
BTC_PERPETUALS = {(v.exchange, f"BTC/{v.quote}:{v.quote}") for v in RECORDED_VENUES.values()}


@pytest.fixture(scope="module")
def client(recorded_db_url):
    return create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False).test_client()


@pytest.fixture(scope="module")
def at(recorded_engine):
    with recorded_engine.connect() as c:
        return c.execute(text("SELECT max(time) FROM funding_rates")).scalar_one() + timedelta(hours=4)


def _iso(t) -> str:
    return pd.Timestamp(t).isoformat().replace("+00:00", "Z")


def _json(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _csv(client, url: str) -> list[dict]:
    response = client.get(url + "&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _records(data: dict) -> list[dict]:
    """The heatmap's JSON matrix back to one record per non-empty cell (row, then time order)."""
    rows, cells = data["rows"], data["cells"]
    return [{**{k: v[i] for k, v in rows.items()}, "time": t, **{k: v[i][j] for k, v in cells.items()}}
            for i in range(len(next(iter(rows.values())))) for j, t in enumerate(data["times"])
            if cells["annualised"][i][j] is not None]


def test_snapshot_and_spreads_equal_the_queries_and_btc_resolves_on_every_venue(client, recorded_engine, at):
    body = _json(client, f"/api/funding/snapshot?coins=BTC&at={_iso(at)}")
    expected = funding_snapshot(recorded_engine, None, ["BTC"], at)
    assert {(r["exchange"], r["symbol"]) for r in body["data"]} == BTC_PERPETUALS
    assert [r["annualised"] for r in body["data"]] == pytest.approx(expected["annualised"].tolist(), rel=1e-14)
    assert [r["settled"] for r in body["data"]] == expected["settled"].tolist()
    rows = _csv(client, f"/api/funding/snapshot?coins=btc&at={_iso(at)}")
    assert [r["symbol"] for r in rows] == expected["symbol"].tolist()
    assert [float(r["funding_rate"]) for r in rows] == pytest.approx(expected["funding_rate"].tolist(), rel=1e-14)
    hyperliquid = _json(client, f"/api/funding/snapshot?exchange=hyperliquid&coins=BTC&at={_iso(at)}")["data"]
    assert [r["symbol"] for r in hyperliquid] == ["BTC/USDC:USDC"] and hyperliquid[0]["funding_interval_hours"] == 1
    spreads = _json(client, f"/api/funding/spreads?at={_iso(at)}")["data"]
    assert len(spreads) == 5 and all({r["long_exchange"], r["short_exchange"]} <= VENUES for r in spreads)
    assert [r["spread_annualised"] for r in spreads] == sorted((r["spread_annualised"] for r in spreads), reverse=True)
    assert len(_csv(client, f"/api/funding/spreads?at={_iso(at)}")) == 5


def test_accumulated_heatmap_and_spread_history_equal_sql_and_the_queries(client, recorded_engine, at):
    end = pd.Timestamp(at).floor("1D").to_pydatetime()
    start = end - timedelta(days=7)
    window = f"start={_iso(start)}&end={_iso(end)}"
    body = _json(client, f"/api/funding/accumulated?exchange=hyperliquid,okx&coins=HYPE,ETH&{window}")
    with recorded_engine.connect() as conn:
        sums = {(r.exchange, r.symbol): (r.s, r.n) for r in conn.execute(text(
            "SELECT exchange, symbol, sum(funding_rate) AS s, count(*) AS n FROM funding_rates WHERE settled "
            "AND exchange IN ('hyperliquid', 'okx') AND split_part(symbol, '/', 1) IN ('HYPE', 'ETH') "
            "AND time >= :a AND time < :b GROUP BY 1, 2"), {"a": start, "b": end})}  # fmt: skip
    assert len(body["data"]) == len(sums) == 4
    for row in body["data"]:
        s, n = sums[(row["exchange"], row["symbol"])]
        assert row["accumulated"] == pytest.approx(s, rel=1e-13) and row["settlements"] == n
    frame = accumulated_funding(recorded_engine, ["hyperliquid", "okx"], ["HYPE", "ETH"], start, end)
    assert [r["annualised"] for r in body["data"]] == pytest.approx(frame["annualised"].tolist(), rel=1e-14)

    heat = _json(client, f"/api/funding/heatmap?bucket=1d&{window}")
    cells = funding_heatmap(recorded_engine, None, None, start, end, timedelta(days=1))
    long = _records(heat["data"])
    assert heat["meta"]["bucket"] == "1d" and heat["meta"]["count"] == len(long) == len(cells) == 5 * 7
    assert heat["data"]["rows"]["coin"] == sorted(set(cells["coin"])) and len(heat["data"]["times"]) == 7
    assert [(r["coin"], pd.Timestamp(r["time"]), r["venues"], r["weighted"]) for r in long] == list(
        zip(cells["coin"], cells["time"], cells["venues"], cells["weighted"], strict=True))
    assert [r["annualised"] for r in long] == pytest.approx(cells["annualised"].tolist(), rel=1e-14)
    per_venue = _json(client, f"/api/funding/heatmap?exchange=bybit&coins=SOL&venues=true&bucket=1d&{window}")
    with recorded_engine.connect() as conn:
        sql_cells = conn.execute(text(
            "SELECT time_bucket('1 day', time) AS t, avg(funding_rate * 8760 / funding_interval_hours), count(*) "
            "FROM funding_rates WHERE settled AND exchange = 'bybit' AND symbol = 'SOL/USDT:USDT' AND time >= :a "
            "AND time < :b GROUP BY 1 ORDER BY 1"), {"a": start, "b": end}).all()  # fmt: skip
    assert per_venue["data"]["rows"]["symbol"] == ["SOL/USDT:USDT"]
    assert [(pd.Timestamp(r["time"]), r["annualised"], r["settlements"]) for r in _records(per_venue["data"])] == [
        (pd.Timestamp(t), pytest.approx(a, rel=1e-13), n) for t, a, n in sql_cells]

    url = f"/api/funding/spread-history?coin=BTC&long_exchange=hyperliquid&short_exchange=okx&{window}"
    history = _json(client, url)["data"]
    expected = spread_history(recorded_engine, "BTC", "hyperliquid", "okx", start, end)
    assert len(history) == len(expected) == 21
    assert [r["spread_annualised"] for r in history] == pytest.approx(expected["spread_annualised"].tolist(),
                                                                       rel=1e-13)  # fmt: skip


BAD = [
    ("/api/funding/snapshot?at=noon", 400, "at"),
    ("/api/funding/snapshot?at=0001-01-01T00:00%2B01:00", 400, "at"),
    ("/api/funding/snapshot?coins=NOSUCHCOIN", 404, "coins"),
    ("/api/funding/snapshot?coins=B@D", 400, "coins"),
    ("/api/funding/snapshot?exchange=kraken", 404, "exchange"),
    ("/api/funding/snapshot?exchange=bin;ance", 400, "exchange"),
    ("/api/funding/snapshot?format=xml", 400, "format"),
    ("/api/funding/snapshot?symbol=BTC", 400, "symbol"),
    ("/api/funding/spreads?coins=BTC&coins=ETH", 400, "coins"),
    ("/api/funding/spreads?start=2026-01-01", 400, "start"),
    ("/api/funding/accumulated?start=2026-03-02&end=2026-03-01", 400, "start"),
    ("/api/funding/accumulated?start=2020-01-01&end=2026-03-01", 400, "start"),
    ("/api/funding/accumulated?end=yesterday", 400, "end"),
    ("/api/funding/accumulated?exchange=okx&coins=XRP", 404, "coins"),
    ("/api/funding/heatmap?bucket=2m", 400, "bucket"),
    ("/api/funding/heatmap?start=2026-01-01&end=2026-03-01&bucket=1m", 400, "bucket"),
    ("/api/funding/heatmap?exchange=okx,bybit", 400, "exchange"),
    ("/api/funding/heatmap?venues=maybe", 400, "venues"),
    ("/api/funding/spread-history?long_exchange=okx&short_exchange=bybit", 400, "coin"),
    ("/api/funding/spread-history?coin=NOSUCHCOIN&long_exchange=okx&short_exchange=bybit", 404, "coin"),
    ("/api/funding/spread-history?coin=BTC&short_exchange=bybit", 400, "long_exchange"),
    ("/api/funding/spread-history?coin=BTC&long_exchange=okx", 400, "short_exchange"),
    ("/api/funding/spread-history?coin=BTC&long_exchange=okx&short_exchange=okx", 400, "short_exchange"),
    ("/api/funding/spread-history?coin=BTC&long_exchange=kraken&short_exchange=okx", 404, "long_exchange"),
    ("/api/funding/spread-history?coin=XRP&long_exchange=okx&short_exchange=bybit", 404, "long_exchange"),
    ("/api/funding/spread-history?coin=BTC,ETH&long_exchange=okx&short_exchange=bybit", 400, "coin"),
    ("/api/premium?symbols=NOPE", 404, "symbols"),
    ("/api/premium?bucket=7m", 400, "bucket"),
    ("/api/premium?coins=BTC", 400, "coins"),
]


@pytest.mark.parametrize(("url", "status", "parameter"), BAD)
def test_bad_parameters_are_json_errors_naming_the_parameter(client, url, status, parameter):
    response = client.get(url)
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json" and body["parameter"] == parameter and body["error"]


def _poll_premium_index(fake, engine):
    """One funding poll of the fake Binance (``premiumIndex`` at its default now, 2025-06-17 08:38:08) through real
    ccxt."""
    settings = load_settings({"ALPHAPULSE_EXCHANGE_BASE_URL": fake.url, "ALPHAPULSE_EXCHANGES": "binanceusdm",
                              "ALPHAPULSE_SYMBOLS": "BTC,HYPE", "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS": "5"})
    symbols = ["BTC/USDT:USDT", "HYPE/USDT:USDT"]

    async def go():
        async with ExchangeClient("binanceusdm", settings) as exchange:
            await exchange.load_markets()
            return await exchange.fetch_funding_rates(symbols)

    now = pd.Timestamp(DEFAULT_NOW_MS, unit="ms", tz="UTC").to_pydatetime()
    rows = [predicted_funding("binanceusdm", v, received_at=now, interval=None) for s, v in asyncio.run(go()).items()
            if s in symbols]  # fmt: skip
    assert ingest_funding(engine, rows_to_frame(rows, FundingRow), settings, now=now).written == 2
    return now


def test_premium_and_predicted_snapshot_from_polled_mark_without_index(clean_db, fake_exchange, db_url):
    """No licensed recording has an index price: the polled rows carry the derived mark price and no index, so the
    snapshot has no premium and ``/api/premium`` equals the query and SQL with no rows."""
    now = _poll_premium_index(fake_exchange, clean_db)
    snap = funding_snapshot(clean_db, ["binanceusdm"], None, now).set_index("coin")
    for coin, hours in (("BTC", 8), ("HYPE", 4)):
        src = recorded_funding_state(coin, DEFAULT_NOW_MS, hours * HOUR_MS)
        assert not snap.loc[coin, "settled"] and snap.loc[coin, "funding_rate"] == src.rate
        assert snap.loc[coin, "mark_price"] == src.mark and np.isnan(snap.loc[coin, "index_price"])
        assert np.isnan(snap.loc[coin, "premium_bp"])
        assert snap.loc[coin, "next_funding_time"] == pd.Timestamp(src.next_ms, unit="ms", tz="UTC")
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    client = create_app(with_database(get_settings(), db_url), with_dashboard=False).test_client()
    body = _json(client, f"/api/premium?symbols=BTC,HYPE&bucket=1h&start={_iso(start)}&end={_iso(end)}")
    frame = premium_series(clean_db, None, None, start, end, timedelta(hours=1))
    with clean_db.connect() as conn:
        sql_rows = conn.execute(text(
            "SELECT symbol, time_bucket('1 hour', time), avg((mark_price - index_price) / index_price) * 1e4 "
            "FROM funding_rates WHERE index_price IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2")).all()
    assert body["data"] == [] and frame.empty and sql_rows == []  # no stored row has an index price
