"""Coin identity across venues (issue 8 item 4): the pure rules of ``db.coins`` and the API resolving a bare
coin to its perpetual on every venue, checked against the bundled real cross-venue data in TimescaleDB."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app import create_app, with_database
from db.coins import Coin, coin_of, coin_of_base, is_bare_coin, symbols_of_coin
from settings import get_settings


@pytest.mark.parametrize(
    ("symbol", "coin"),
    [
        ("BTC/USDT:USDT", Coin("BTC", 1)),
        ("BTC/USDC:USDC", Coin("BTC", 1)),
        ("1000PEPE/USDT:USDT", Coin("PEPE", 1000)),
        ("1000000MOG/USDT:USDT", Coin("MOG", 1_000_000)),
        ("KPEPE/USDC:USDC", Coin("PEPE", 1000)),
        ("kBONK/USDC:USDC", Coin("BONK", 1000)),
        ("KAVA/USDT:USDT", Coin("KAVA", 1)),
        ("1INCH/USDT:USDT", Coin("1INCH", 1)),
    ],
)
def test_coin_of_symbol(symbol, coin):
    assert coin_of(symbol) == coin


def test_bare_coin_and_resolution():
    assert is_bare_coin("btc") and is_bare_coin("PEPE")
    assert not is_bare_coin("BTCUSDT") and not is_bare_coin("BTC/USDT") and not is_bare_coin("BTC-USDT-SWAP")
    known = ["BTC/USDT:USDT", "BTC/USDC:USDC", "1000PEPE/USDT:USDT", "KPEPE/USDC:USDC", "ETH/USDT:USDT"]
    assert symbols_of_coin("btc", known) == ("BTC/USDC:USDC", "BTC/USDT:USDT")
    assert symbols_of_coin("pepe", known) == ("1000PEPE/USDT:USDT", "KPEPE/USDC:USDC")
    assert symbols_of_coin("1000pepe", known) == ("1000PEPE/USDT:USDT", "KPEPE/USDC:USDC")
    assert symbols_of_coin("SOL", known) == ()
    with pytest.raises(ValueError):
        coin_of_base("")


@pytest.fixture(scope="module")
def client(recorded_db_url):
    return create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False).test_client()


def test_bare_coin_resolves_on_every_venue(client, recorded_engine):
    """``symbols=BTC`` on Hyperliquid answers its BTC/USDC:USDC rows (was a 404 naming BTC/USDT:USDT); across
    all venues it answers every venue's BTC perpetual, each row equal to the stored one."""
    with recorded_engine.connect() as conn:
        end = conn.execute(text("SELECT max(time) FROM funding_rates WHERE exchange = 'hyperliquid'")).scalar_one()
        want = conn.execute(
            text(
                "SELECT exchange, symbol, count(*) FROM funding_rates WHERE time >= :s AND time < :e "
                "AND split_part(symbol, '/', 1) = 'BTC' GROUP BY 1, 2"
            ),  # fmt: skip
            {"s": end.replace(day=1), "e": end},
        ).all()
    rng = f"start={end.replace(day=1).isoformat()}&end={end.isoformat()}".replace("+", "%2B")
    hl = client.get(f"/api/funding-rates?exchange=hyperliquid&symbols=BTC&{rng}")
    assert hl.status_code == 200, hl.get_data(as_text=True)
    rows = hl.get_json()["data"]
    assert rows and {(r["exchange"], r["symbol"]) for r in rows} == {("hyperliquid", "BTC/USDC:USDC")}
    every = client.get(f"/api/funding-rates?symbols=BTC&{rng}").get_json()["data"]
    counts = {}
    for r in every:
        counts[(r["exchange"], r["symbol"])] = counts.get((r["exchange"], r["symbol"]), 0) + 1
    assert counts == {(e, s): n for e, s, n in want}
    missing = client.get(f"/api/funding-rates?exchange=hyperliquid&symbols=NOSUCHCOIN&{rng}")
    assert missing.status_code == 404 and missing.get_json()["parameter"] == "symbols"
