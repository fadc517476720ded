"""The bundled real history loads through the pipeline, completely, exactly, and idempotently."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sqlalchemy import text

from ingest.recorded import load_recorded, read_candles, read_funding, read_klines_1m, read_open_interest
from settings import load_settings


def test_load_recorded_stores_the_files_exactly_and_a_second_load_writes_nothing(clean_db):
    settings = load_settings({})
    first = load_recorded(clean_db, settings)
    candles, funding = read_klines_1m(), read_funding()
    recorded_1h = read_candles().query("timeframe == '1h'")
    assert first.written == len(candles) + len(recorded_1h) + len(funding) + len(read_open_interest())
    assert first.rejected_total == 0
    assert first.anomalies > 0
    with clean_db.connect() as conn:
        stored = pd.DataFrame(
            conn.execute(
                text("SELECT symbol, time, close, volume FROM prices WHERE timeframe = '1m' ORDER BY symbol, time")
            )
            .mappings()
            .all()
        )
        intervals = dict(
            conn.execute(
                text("SELECT exchange || ' ' || symbol, max(funding_interval_hours) FROM funding_rates GROUP BY 1")
            ).all()
        )
        n_anomalies = conn.execute(text("SELECT count(*) FROM anomalies")).scalar_one()
        hourly = conn.execute(text("SELECT count(*) FROM prices WHERE timeframe = '1h'")).scalar_one()
        venues_1h = pd.DataFrame(conn.execute(text(
            "SELECT exchange, symbol, time, close, volume FROM prices WHERE timeframe = '1h' AND exchange <> "
            "'binanceusdm' ORDER BY exchange, symbol, time")).mappings().all())
    expected = candles.sort_values(["symbol", "time"])
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())
    np.testing.assert_array_equal(stored["volume"].to_numpy(), expected["volume"].to_numpy())
    assert intervals["binanceusdm BTC/USDT:USDT"] == 8.0
    assert intervals["hyperliquid BTC/USDC:USDC"] == 1.0
    assert n_anomalies == first.anomalies
    rollups = candles.assign(h=candles["time"].dt.floor("1h")).groupby(["symbol", "h"]).ngroups
    assert hourly == rollups + len(recorded_1h)
    other = recorded_1h[recorded_1h["exchange"] != "binanceusdm"].sort_values(["exchange", "symbol", "time"])
    assert set(other["exchange"]) == {"bybit", "okx", "hyperliquid", "krakenfutures", "dydx", "lighter"}
    np.testing.assert_array_equal(venues_1h["close"].to_numpy(), other["close"].to_numpy())
    np.testing.assert_array_equal(venues_1h["volume"].to_numpy(dtype=float), other["volume"].to_numpy(dtype=float))
    assert venues_1h.loc[venues_1h["exchange"] == "okx", "volume"].isna().all()  # contracts of unrecorded size

    started = time.monotonic()
    second = load_recorded(clean_db, settings)
    elapsed = time.monotonic() - started
    assert (second.written, second.anomalies) == (0, 0)
    print(f"second load-recorded: {elapsed:.2f} s")
