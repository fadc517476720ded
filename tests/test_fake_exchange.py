"""Real ccxt async clients (binanceusdm, bybit, okx) against the local fake exchange.

Expected values are read here from the recorded files in ``tests/data/fake_exchange`` (independently of the
server's own loader); nothing is hard-coded except instants chosen inside the recorded periods.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from typing import Any

import ccxt.async_support as ccxt
import pytest

from ingest.ccxt_urls import override_api_urls
from settings import PROJECT_ROOT
from tests.fake_exchange.server import FakeExchange
from tests.fake_exchange.store import CROSS_VENUE_FUNDING_FILE, DEFAULT_NOW_MS, RecordedStore
from tests.fake_exchange_client import (
    BINANCE_NOW,
    BTC,
    HOUR,
    HYPE,
    MINUTE,
    OKX_NOW,
    recorded_candles,
    recorded_funding,
    recorded_rows,
    run,
)
from tests.ingest_helpers import recorded_funding_state


def test_override_api_urls_keeps_paths_and_rejects_bad_urls() -> None:
    client = ccxt.binanceusdm()
    override_api_urls(client, "http://127.0.0.1:9/")
    assert client.urls["api"]["fapiPublic"] == "http://127.0.0.1:9/fapi/v1"
    assert ccxt.binanceusdm().urls["api"]["fapiPublic"].startswith("https://")  # class description untouched
    okx = ccxt.okx()
    override_api_urls(okx, "http://127.0.0.1:9")
    assert okx.urls["api"] == {"rest": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match="absolute"):
        override_api_urls(okx, "127.0.0.1:9")


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "bybit", "okx"])
def test_load_markets_finds_btc_and_hype_perpetuals(fake_exchange: FakeExchange, exchange_id: str) -> None:
    markets = run(exchange_id, fake_exchange.url, lambda c: asyncio.sleep(0, c.markets))
    assert {BTC, HYPE} <= set(markets)
    assert markets[BTC]["swap"] and markets[BTC]["linear"] and markets[BTC]["settle"] == "USDT"
    assert not fake_exchange.unknown_paths


def test_binance_current_funding_at_the_default_now_is_derived_from_the_recorded_rows(
    fake_exchange: FakeExchange,
) -> None:
    rates = run("binanceusdm", fake_exchange.url, lambda c: c.fetch_funding_rates([BTC, HYPE]))
    for symbol, base, hours in ((BTC, "BTC", 8), (HYPE, "HYPE", 4)):
        expected, got = recorded_funding_state(base, DEFAULT_NOW_MS, hours * HOUR), rates[symbol]
        assert got["markPrice"] == expected.mark  # 1m close for BTC, 1h close for HYPE (no 1m recorded)
        assert got["indexPrice"] is None  # not recorded: served empty
        assert got["fundingRate"] == expected.rate
        assert got["fundingTimestamp"] == expected.next_ms
        assert got["timestamp"] == DEFAULT_NOW_MS


def _decimals(values: list[str]) -> int:
    return max(len(v.partition(".")[2].rstrip("0")) for v in values)


def test_binance_markets_carry_specs_derived_from_the_recorded_decimals(fake_exchange: FakeExchange) -> None:
    markets = run("binanceusdm", fake_exchange.url, lambda c: asyncio.sleep(0, c.markets))
    minute = recorded_rows("binance_usdm_klines_1m_2025-06-16_2025-06-17.csv.gz")
    hourly = [r for r in recorded_rows("cross_venue_candles_1h_binance_bybit_okx.csv.gz") if r["venue"] == "binance"]
    assert {m["base"] for m in markets.values()} == {"BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "HYPE"}
    for market in markets.values():
        base = market["base"]
        rows = [r for r in minute if r["symbol"] == f"{base}USDT"] + [r for r in hourly if r["coin"] == base]
        prices = _decimals([r[k] for r in rows for k in ("open", "high", "low", "close")])
        amounts = _decimals([r["volume"] for r in rows])
        assert (market["swap"], market["linear"], market["active"], market["contractSize"]) == (True, True, True, 1)
        assert market["precision"]["price"] == 10.0**-prices and market["limits"]["price"]["min"] is None
        assert market["precision"]["amount"] == market["limits"]["amount"]["min"] == 10.0**-amounts
    assert markets[BTC]["precision"]["price"] == 0.1  # the tick size Binance lists for BTCUSDT


def test_binance_funding_away_from_snapshot_and_intervals(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_now(BINANCE_NOW)

    async def body(c: Any) -> tuple[dict, dict]:
        return await c.fetch_funding_rate(BTC), await c.fetch_funding_intervals([BTC, HYPE])

    rate, intervals = run("binanceusdm", fake_exchange.url, body)
    candles = recorded_candles("binance_usdm_klines_1m_2025-06-16_2025-06-17.csv.gz", symbol="BTCUSDT")
    last_closed = [c for c in candles if c[0] + MINUTE <= BINANCE_NOW][-1]
    settled = [
        f
        for f in recorded_funding("binance_usdm_funding_7sym_2025-05-25_2025-06-24.csv.gz", symbol="BTCUSDT")
        if f[0] <= BINANCE_NOW
    ]
    assert rate["markPrice"] == last_closed[4]
    assert rate["fundingRate"] == settled[-1][1]
    assert rate["indexPrice"] is None  # not recorded: served empty
    last_settlement = settled[-1][0] - settled[-1][0] % HOUR  # recorded fundingTime carries ms of jitter
    assert rate["fundingTimestamp"] == last_settlement + 8 * HOUR
    assert intervals[BTC]["interval"] == "8h"
    assert intervals[HYPE]["interval"] == "4h"


def test_binance_ohlcv_is_exactly_the_recorded_candles_and_stops_at_now(fake_exchange: FakeExchange) -> None:
    since = 1750100000000 - 1750100000000 % MINUTE
    fake_exchange.set_now(since + 30 * MINUTE + 5_000)

    async def body(c: Any) -> tuple[list, list]:
        return await c.fetch_ohlcv(BTC, "1m", since, 10), await c.fetch_ohlcv(BTC, "1m", since, 1000)

    first, upto_now = run("binanceusdm", fake_exchange.url, body)
    recorded = [
        c
        for c in recorded_candles("binance_usdm_klines_1m_2025-06-16_2025-06-17.csv.gz", symbol="BTCUSDT")
        if c[0] >= since
    ]
    assert first == recorded[:10]
    assert upto_now[:30] == recorded[:30] and len(upto_now) == 31  # 30 closed candles, the open one, nothing later
    still_open, final = upto_now[30], recorded[30]  # 5 s of 60 into it: its open and close, 1/12 of its volume
    assert still_open[:2] == final[:2] and still_open[4] == final[4]
    assert still_open[5] == pytest.approx(final[5] * 0.083) and still_open[5] < final[5]
    assert fake_exchange.requests[-1].query == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "startTime": str(since),
        "limit": "1000",
    }


def test_binance_funding_history_pages_through_the_recording(fake_exchange: FakeExchange) -> None:
    recorded = recorded_funding("binance_usdm_funding_7sym_2025-05-25_2025-06-24.csv.gz", symbol="ETHUSDT")
    start, end = recorded[0][0], DEFAULT_NOW_MS

    async def body(c: Any) -> list[tuple[int, float]]:
        got, since = [], start
        while True:
            page = await c.fetch_funding_rate_history("ETH/USDT:USDT", since, 25)
            got += [(r["timestamp"], r["fundingRate"]) for r in page]
            if len(page) < 25:
                return got
            since = page[-1]["timestamp"] + 1

    got = run("binanceusdm", fake_exchange.url, body)
    assert got == [f for f in recorded if start <= f[0] <= end]
    pages = [r for r in fake_exchange.requests if r.path == "/fapi/v1/fundingRate"]
    assert len(pages) == len(got) // 25 + 1
    assert all(p.query["limit"] == "25" for p in pages)


def test_hidden_range_makes_a_hole(fake_exchange: FakeExchange) -> None:
    since = 1750100000000 - 1750100000000 % MINUTE
    fake_exchange.hide("binanceusdm", BTC, "1m", since + 3 * MINUTE, since + 5 * MINUTE)
    got = run("binanceusdm", fake_exchange.url, lambda c: c.fetch_ohlcv(BTC, "1m", since, 8))
    assert [c[0] - since for c in got] == [m * MINUTE for m in (0, 1, 2, 6, 7, 8, 9, 10)]


def test_bybit_funding_candles_and_history(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_now(BINANCE_NOW)
    candle_file, funding_file = (
        "cross_venue_candles_1h_binance_bybit_okx.csv.gz",
        CROSS_VENUE_FUNDING_FILE,
    )
    since = BINANCE_NOW - 10 * HOUR - BINANCE_NOW % HOUR

    async def body(c: Any) -> tuple:
        history = await c.fetch_funding_rate_history(BTC, None, 200, {"endTime": BINANCE_NOW})
        return (
            await c.fetch_funding_rate(HYPE),
            await c.fetch_ohlcv(BTC, "1h", since, 5),
            await c.fetch_ohlcv(BTC, "1m"),
            history,
        )

    rate, hourly, minutely, history = run("bybit", fake_exchange.url, body)
    settled = [f for f in recorded_funding(funding_file, venue="bybit", coin="HYPE") if f[0] <= BINANCE_NOW]
    assert (rate["fundingRate"], rate["interval"]) == (settled[-1][1], "8h")
    candles = recorded_candles(candle_file, venue="bybit", coin="BTC")
    assert hourly == [c for c in candles if c[0] >= since][:5]
    assert (
        rate["markPrice"]
        == [c for c in recorded_candles(candle_file, venue="bybit", coin="HYPE") if c[0] + HOUR <= BINANCE_NOW][-1][4]
    )
    assert minutely == []  # no 1-minute Bybit data is recorded
    btc_settled = [f for f in recorded_funding(funding_file, venue="bybit", coin="BTC") if f[0] <= BINANCE_NOW]
    assert [(r["timestamp"], r["fundingRate"]) for r in history] == btc_settled[-200:]


def test_okx_funding_intervals_candles_and_backward_paging(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_now(OKX_NOW)
    candle_file, funding_file = (
        "cross_venue_candles_1h_binance_bybit_okx.csv.gz",
        CROSS_VENUE_FUNDING_FILE,
    )
    since = OKX_NOW - 20 * HOUR - OKX_NOW % HOUR

    async def body(c: Any) -> tuple:
        rates = await c.fetch_funding_rates([BTC, HYPE])
        pages, after = [], None
        for _ in range(3):  # OKX pages backwards with ``after`` (older than)
            page = await c.fetch_funding_rate_history(HYPE, None, 100, {"after": after} if after else {})
            pages.append(page)
            after = page[0]["timestamp"]
        return rates, await c.fetch_ohlcv(BTC, "1h", since, 5), pages

    rates, hourly, pages = run("okx", fake_exchange.url, body)
    assert (rates[BTC]["interval"], rates[HYPE]["interval"]) == ("8h", "4h")
    hype = [f for f in recorded_funding(funding_file, venue="okx", coin="HYPE") if f[0] <= OKX_NOW]
    assert rates[HYPE]["fundingRate"] == hype[-1][1]
    assert [len(p) for p in pages] == [100, 100, 100]
    assert [(r["timestamp"], r["fundingRate"]) for p in reversed(pages) for r in p] == hype[-300:]
    expected = [c[:5] + [None] for c in recorded_candles(candle_file, venue="okx", coin="BTC") if c[0] >= since][:5]
    assert hourly == expected  # OKX volume is recorded in contracts; ccxt reads volCcy (not recorded)


def test_standalone_server_serves_the_recorded_symbols() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_exchange", "--symbols", "6"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = line.rsplit(" ", 1)[-1].strip()
        markets = run("binanceusdm", url, lambda c: c.fetch_funding_rates())
        assert len(markets) == 6 and BTC in markets
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_symbols_beyond_the_recorded_eight_serve_the_universe_files_current_funding(tmp_path, fake_exchange) -> None:
    """Benchmarks' ``--symbols N``: the further symbols' ``premiumIndex`` objects come from the universe file. The
    file here is **derived**: the fake's own BTC and ETH objects (recorded rate and price) under new names."""
    fake_exchange.set_now(DEFAULT_NOW_MS)
    body = urllib.request.urlopen(f"{fake_exchange.url}/fapi/v1/premiumIndex").read()
    served = {o["symbol"]: o for o in json.loads(body)}
    objects = [{**served[f"{b}USDT"], "symbol": f"DRV{b}USDT", "indexPrice": served[f"{b}USDT"]["markPrice"]}
               for b in ("BTC", "ETH")]  # fmt: skip
    universe = tmp_path / "premiumIndex.json"
    universe.write_text(json.dumps(objects))
    with FakeExchange(RecordedStore.load(10, universe)) as fake:
        fake.set_now(DEFAULT_NOW_MS)
        rates = run("binanceusdm", fake.url, lambda c: c.fetch_funding_rates())
    assert len(rates) == 10
    eight_hours = 8 * HOUR
    for obj in objects:
        rate = rates[f"{obj['symbol'].removesuffix('USDT')}/USDT:USDT"]
        assert (rate["fundingRate"], rate["markPrice"]) == (float(obj["lastFundingRate"]), float(obj["markPrice"]))
        assert rate["indexPrice"] == float(obj["indexPrice"]) and rate["timestamp"] == DEFAULT_NOW_MS
        assert rate["fundingTimestamp"] == (DEFAULT_NOW_MS // eight_hours + 1) * eight_hours
