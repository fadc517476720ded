"""The funding universe: every linear perpetual of each venue in one request per cadence, Hyperliquid included,
each symbol with its own interval (real ccxt clients against the fake exchange, real TimescaleDB).

Expected values come from the fake exchange's recorded store (the venues' settled rates and the spacing of their
settlements), never from the ingest code under test."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pandas as pd
from ccxt.binanceusdm import binanceusdm
from sqlalchemy import text

from ingest.normalize import predicted_funding
from ingest.worker import Worker
from settings import load_settings
from tests.fake_exchange.store import HOUR_MS
from tests.ingest_helpers import run_worker_until

#: 2026-02-15 08:30 UTC: every venue of the fake has settled funding before it (OKX's recording starts 2025-12).
NOW_MS = int(pd.Timestamp("2026-02-15 08:30", tz="UTC").timestamp() * 1000)
VENUES = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx", "hyperliquid": "hyperliquid"}
SETTLE = {"binanceusdm": "USDT", "bybit": "USDT", "okx": "USDT", "hyperliquid": "USDC"}


def _settings(fake, **extra):
    env = {
        "ALPHAPULSE_EXCHANGE_BASE_URL": fake.url,
        "ALPHAPULSE_EXCHANGES": ",".join(VENUES),
        "ALPHAPULSE_SYMBOLS": "BTC",
        "ALPHAPULSE_BACKFILL_DAYS": "1",
        "ALPHAPULSE_FUNDING_POLL_SECONDS": "1",
        "ALPHAPULSE_OHLCV_POLL_SECONDS": "1",
        "ALPHAPULSE_BACKOFF_SCALE": "0.01",
        "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS": "2",
    }
    return load_settings({**env, **extra})


def _served(fake, exchange: str) -> dict[str, str]:
    """``{unified symbol: base}`` of every symbol the fake serves on ``exchange`` (its recorded universe)."""
    store = fake.view.store
    venue = VENUES[exchange]
    bases = store.bases if venue == "binance" else sorted(b for v, b in store.funding if v == venue)
    return {f"{b}/{SETTLE[exchange]}:{SETTLE[exchange]}": b for b in bases}


def _predicted(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT time, exchange, symbol, funding_rate, funding_interval_hours "
                                "FROM funding_rates WHERE NOT settled ORDER BY time"), conn)


def _pairs(engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT DISTINCT exchange, symbol FROM funding_rates WHERE NOT settled")).all())


def _run(worker, condition, timeout=60.0):
    return asyncio.run(run_worker_until(worker, condition, timeout=timeout))


def test_a_live_cycle_stores_every_symbol_of_each_venue_with_its_own_interval(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    worker = Worker(_settings(fake_exchange), clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    expected = {(e, s) for e in VENUES for s in _served(fake_exchange, e)}
    assert _run(worker, lambda: expected <= _pairs(clean_db)) == 0
    stored = _predicted(clean_db)
    assert set(zip(stored["exchange"], stored["symbol"], strict=True)) == expected  # nothing beyond the universe
    view = fake_exchange.view
    for row in stored.itertuples():
        venue, base = VENUES[row.exchange], _served(fake_exchange, row.exchange)[row.symbol]
        assert row.funding_interval_hours == view.store.funding_interval_ms(venue, base) / HOUR_MS, row
        settled = view.last_settlement(venue, base)
        assert row.funding_rate == float(settled[1]), row  # the fake's current rate = the last settled one
    intervals = {(r.exchange, r.symbol): r.funding_interval_hours for r in stored.itertuples()}
    assert intervals[("hyperliquid", "BTC/USDC:USDC")] == 1.0
    assert intervals[("binanceusdm", "BTC/USDT:USDT")] == 8.0 and intervals[("binanceusdm", "HYPE/USDT:USDT")] == 4.0
    assert intervals[("okx", "HYPE/USDT:USDT")] == 4.0
    # one all-symbol request per venue and cycle: never a per-symbol funding request
    assert not [r for r in fake_exchange.requests if r.path == "/fapi/v1/premiumIndex" and "symbol" in r.query]
    assert not [r for r in fake_exchange.requests if r.path == "/v5/market/tickers" and "symbol" in r.query]
    assert {r.query.get("instId") for r in fake_exchange.requests if r.path == "/api/v5/public/funding-rate"} == {"ANY"}


def test_an_interval_change_is_stored(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS, running=True)  # a new observation time per cycle
    settings = _settings(fake_exchange, ALPHAPULSE_EXCHANGES="binanceusdm,bybit,okx")
    worker = Worker(settings, clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    changed = {}

    def condition():
        stored = _predicted(clean_db)
        btc = stored[stored["symbol"] == "BTC/USDT:USDT"]
        if not changed and set(btc["exchange"]) == {"binanceusdm", "bybit", "okx"}:
            for exchange in ("binanceusdm", "bybit", "okx"):
                fake_exchange.set_interval(exchange, "BTC", 4)
            changed["at"] = pd.Timestamp(fake_exchange.now_ms(), unit="ms", tz="UTC")
        return bool(changed) and set(btc[btc["funding_interval_hours"] == 4.0]["exchange"]) == {
            "binanceusdm", "bybit", "okx"}

    assert _run(worker, condition) == 0
    stored = _predicted(clean_db)
    btc = stored[stored["symbol"] == "BTC/USDT:USDT"]
    for exchange in ("binanceusdm", "bybit", "okx"):
        series = btc[btc["exchange"] == exchange]
        assert series["funding_interval_hours"].iloc[0] == 8.0  # before the change
        assert series["funding_interval_hours"].iloc[-1] == 4.0  # the exchange's new word landed
        assert set(series[series["time"] < changed["at"]]["funding_interval_hours"]) == {8.0}
    eth = stored[stored["symbol"] == "ETH/USDT:USDT"]
    assert set(eth["funding_interval_hours"]) == {8.0}  # the other symbols keep theirs


def test_universe_symbols_restricts_the_funding_stream_to_the_configured_list(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    settings = _settings(fake_exchange, ALPHAPULSE_EXCHANGES="binanceusdm,hyperliquid", ALPHAPULSE_SYMBOLS="BTC,HYPE",
                         ALPHAPULSE_FUNDING_UNIVERSE="symbols")
    worker = Worker(settings, clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    expected = {("binanceusdm", "BTC/USDT:USDT"), ("binanceusdm", "HYPE/USDT:USDT"),
                ("hyperliquid", "BTC/USDC:USDC"), ("hyperliquid", "HYPE/USDC:USDC")}  # a bare coin on each venue

    def settled_hyperliquid():
        with clean_db.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM funding_rates WHERE settled AND exchange = 'hyperliquid'"
                                     " AND symbol = 'HYPE/USDC:USDC'")).scalar_one()

    assert _run(worker, lambda: expected <= _pairs(clean_db) and settled_hyperliquid() >= 24) == 0
    assert _pairs(clean_db) == expected
    # settled hourly funding of Hyperliquid through POST /info fundingHistory equals the recorded rows
    with clean_db.connect() as conn:
        stored = dict(conn.execute(text("SELECT time, funding_rate FROM funding_rates WHERE settled AND "
                                        "exchange = 'hyperliquid' AND symbol = 'HYPE/USDC:USDC'")).all())
    series = fake_exchange.view.store.funding[("hyperliquid", "HYPE")]
    recorded = {pd.Timestamp(t, unit="ms", tz="UTC"): float(r[0]) for t, r in zip(series.times, series.rows,
                                                                                 strict=True)}
    assert stored and all(recorded[pd.Timestamp(t)] == rate for t, rate in stored.items())


def test_a_malformed_entry_is_rejected_and_counted_while_the_others_are_stored(clean_db, fake_exchange):
    fake_exchange.set_now(NOW_MS)
    fake_exchange.spoil_funding("binanceusdm", "ETH")
    fake_exchange.spoil_funding("hyperliquid", "SOL")
    settings = _settings(fake_exchange, ALPHAPULSE_EXCHANGES="binanceusdm,hyperliquid",
                         ALPHAPULSE_METRICS_INTERVAL_SECONDS="0.5")
    worker = Worker(settings, clean_db, clock=lambda: fake_exchange.now_ms() / 1000)
    spoiled = {("binanceusdm", "ETH/USDT:USDT"), ("hyperliquid", "SOL/USDC:USDC")}
    expected = {(e, s) for e in ("binanceusdm", "hyperliquid") for s in _served(fake_exchange, e)} - spoiled

    def rejected() -> dict[str, float]:
        with clean_db.connect() as conn:
            return dict(conn.execute(text(
                "SELECT labels->>'exchange', max(value) FROM system_metrics WHERE metric = 'rows_rejected' "
                "AND labels->>'stream' = 'funding' AND labels->>'reason' = 'funding_not_finite' GROUP BY 1")).all())

    assert _run(worker, lambda: expected <= _pairs(clean_db) and set(rejected()) == {"binanceusdm", "hyperliquid"}) == 0
    assert _pairs(clean_db) == expected
    assert all(count >= 1 for count in rejected().values())


def test_binance_next_funding_time_zero_is_stored_as_unknown_not_the_epoch():
    """Binance's premiumIndex sends ``nextFundingTime`` 0 for a symbol that is settling or delisted: the row keeps
    its rate and prices, with no next funding time (ccxt's own parser turns the raw answer into the structure)."""
    raw = {"symbol": "BTCUSDT", "markPrice": "106599.90000000", "indexPrice": "106647.69847826",
           "lastFundingRate": "0.00004758", "nextFundingTime": 0, "time": 1750149488000}  # fmt: skip
    client = binanceusdm()
    client.markets_by_id = {"BTCUSDT": [{"symbol": "BTC/USDT:USDT", "id": "BTCUSDT", "contract": True}]}
    structure = client.parse_funding_rate(raw, client.markets_by_id["BTCUSDT"][0])
    row = predicted_funding("binanceusdm", structure, received_at=datetime.now(UTC), interval=8.0)
    assert row.next_funding_time is None
    assert (row.funding_rate, row.mark_price, row.index_price) == (0.00004758, 106599.9, 106647.69847826)
