"""The ``pair_extents`` catalogue equals min/max of the tables' rows after writes, replays and removals.

Real TimescaleDB; bundled recorded funding and 1-minute candles written through ``db.writes`` as the ingest role
(``ingest_engine``); the expected extents computed with SQL on the hypertables in the test.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from db import queries
from db.coins import coin_of
from db.writes import write_candles, write_funding
from db.writes.extents import rebuild_extents, refresh_extents
from ingest.recorded import read_funding, read_klines_1m

_EXPECTED_SQL = """
SELECT exchange, symbol, 'funding' AS stream, min(time) AS first_time, max(time) AS last_time,
       (SELECT funding_interval_hours FROM funding_rates s WHERE s.exchange = f.exchange AND s.symbol = f.symbol
          AND settled AND funding_interval_hours IS NOT NULL ORDER BY time DESC LIMIT 1) AS funding_interval_hours
FROM funding_rates f GROUP BY 1, 2
UNION ALL
SELECT exchange, symbol, 'ohlcv', min(time), max(time), NULL FROM prices WHERE price_kind = 'last' GROUP BY 1, 2
ORDER BY 1, 2, 3"""


def _catalogue(conn) -> pd.DataFrame:
    sql = ("SELECT exchange, symbol, stream, first_time, last_time, funding_interval_hours FROM pair_extents "
           "ORDER BY 1, 2, 3")
    return pd.DataFrame(conn.execute(text(sql)).mappings().all())


def _expected(conn) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(text(_EXPECTED_SQL)).mappings().all())


def _recorded_sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    funding = read_funding()
    funding = funding[funding["symbol"].isin(["BTC/USDT:USDT", "ETH/USDT:USDT"])]
    candles = read_klines_1m()
    candles = candles[candles["symbol"].isin(["BTC/USDT:USDT", "SOL/USDT:USDT"])]
    return funding, candles


def test_writes_keep_the_catalogue_equal_to_the_tables(clean_db, ingest_engine):
    funding, candles = _recorded_sample()
    newer_funding = funding[funding["time"] >= funding["time"].median()]
    newer_candles = candles.groupby("symbol").tail(300)
    write_funding(ingest_engine, newer_funding)
    write_candles(ingest_engine, newer_candles)
    with clean_db.connect() as conn:
        first = _catalogue(conn)
        pd.testing.assert_frame_equal(first, _expected(conn))
    assert set(first["stream"]) == {"funding", "ohlcv"} and len(first) > 4
    assert first.loc[first["stream"] == "funding", "funding_interval_hours"].notna().all()
    write_funding(ingest_engine, funding)  # older rows widen the extents; a replay of the newer ones changes nothing
    write_candles(ingest_engine, candles.groupby("symbol").head(200))
    with clean_db.connect() as conn:
        second = _catalogue(conn)
        pd.testing.assert_frame_equal(second, _expected(conn))
        known = queries.known_pairs(conn)
        listed = queries.list_symbols(conn)
    assert (second["first_time"] <= first["first_time"]).all() and second["first_time"].lt(first["first_time"]).any()
    assert known == sorted({(e, s) for e, s in zip(second["exchange"], second["symbol"], strict=True)})
    ohlcv = second[second["stream"] == "ohlcv"].set_index(["exchange", "symbol"])
    listed = listed.set_index(["exchange", "symbol"])
    for key, row in ohlcv.iterrows():
        assert "ohlcv" in listed.loc[key, "streams"] and listed.loc[key, "last_time"] >= row["last_time"]


def test_refresh_after_removal_and_rebuild_match_the_tables(clean_db, ingest_engine):
    funding, candles = _recorded_sample()
    write_funding(ingest_engine, funding)
    write_candles(ingest_engine, candles.groupby("symbol").head(500))
    cut = funding["time"].quantile(0.25)
    with clean_db.begin() as conn:  # what retention's drop_chunks does: the oldest rows go, one pair entirely
        conn.execute(text("DELETE FROM funding_rates WHERE time < :cut OR symbol = 'ETH/USDT:USDT'"), {"cut": cut})
    with ingest_engine.begin() as conn:
        changed = refresh_extents(conn, "funding_rates")
    with clean_db.connect() as conn:
        after = _catalogue(conn)
        pd.testing.assert_frame_equal(after, _expected(conn))
    assert changed >= 2 and not ((after["symbol"] == "ETH/USDT:USDT") & (after["stream"] == "funding")).any()
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM pair_extents"))
    with ingest_engine.begin() as conn:
        written = rebuild_extents(conn)
    with clean_db.connect() as conn:
        pd.testing.assert_frame_equal(_catalogue(conn), after)
    assert written == len(after)


def test_an_empty_catalogue_lists_no_symbols_with_every_column(clean_db):
    """An empty database (no pair yet) lists nothing, with the documented columns, also for the cached known pairs
    (an empty list: a page rendered before any data arrived failed with KeyError)."""
    with clean_db.connect() as conn:
        known = queries.known_pairs(conn)
        listed, of_known = queries.list_symbols(conn), queries.list_symbols(conn, known)
    assert known == [] and listed.empty and of_known.empty
    assert list(of_known.columns) == list(listed.columns) == [
        "exchange", "symbol", "display", "funding_interval_hours", "streams", "first_time", "last_time"]


#: Catalogue entries of listed perpetuals whose names exercise the coin rule (``db.coins.coin_of``): size prefixes
#: (Binance's ``1000PEPE``, Hyperliquid's ``kPEPE``, Bybit's ``1000000BABYDOGE``) and a coin (DOGE) that ends
#: another one's name (BABYDOGE). Names only: no rates or prices are written.
_LISTED = [("binanceusdm", "1000PEPE/USDT:USDT"), ("hyperliquid", "kPEPE/USDC:USDC"), ("okx", "PEPE/USDT:USDT"),
           ("bybit", "1000000BABYDOGE/USDT:USDT"), ("binanceusdm", "DOGE/USDT:USDT"), ("okx", "BTC/USDT:USDT")]


def test_funding_pairs_select_as_the_coin_rule_does(clean_db):
    """``funding_pairs`` narrows the catalogue in SQL (the base, upper-cased, ends with the coin) and then exactly:
    the pairs of each selection equal those ``coin_of`` names, on the chosen exchanges, with the documented types
    when none matches."""
    start = pd.Timestamp("2025-06-01", tz="UTC")
    with clean_db.begin() as conn:
        conn.execute(text("INSERT INTO pair_extents (exchange, symbol, stream, first_time, last_time, "
                          "funding_interval_hours) VALUES (:e, :s, 'funding', :first, :last, 8)"),
                     [{"e": e, "s": s, "first": start, "last": start + pd.Timedelta(days=i)}
                      for i, (e, s) in enumerate(_LISTED)])  # fmt: skip
    cases = [(None, ["pepe"]), (None, ["DOGE"]), (["okx", "hyperliquid"], ["PEPE", "btc"]), (None, None),
             (["bybit"], ["doge"]), ([], None), (None, [])]  # fmt: skip
    with clean_db.connect() as conn:
        for exchanges, coins in cases:
            got = queries.funding_pairs(conn, exchanges, coins)
            wanted = {c.upper() for c in coins} if coins is not None else None
            expected = sorted((coin_of(s).name, e, s) for e, s in _LISTED if (exchanges is None or e in exchanges)
                              and (wanted is None or coin_of(s).name in wanted))  # fmt: skip
            assert list(zip(got["coin"], got["exchange"], got["symbol"], strict=True)) == expected, (exchanges, coins)
            assert str(got["last_time"].dtype) == "datetime64[us, UTC]" and got["multiplier"].dtype == "int64"
