"""The bundled real history loads through the pipeline, completely, exactly, and idempotently."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sqlalchemy import text

from ingest.recorded import load_recorded, read_funding, read_klines_1m, read_open_interest
from settings import load_settings


def test_load_recorded_stores_the_files_exactly_and_a_second_load_writes_nothing(clean_db):
    settings = load_settings({})
    first = load_recorded(clean_db, settings)
    candles, funding = read_klines_1m(), read_funding()
    assert first.written == len(candles) + len(funding) + len(read_open_interest())
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
    expected = candles.sort_values(["symbol", "time"])
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())
    np.testing.assert_array_equal(stored["volume"].to_numpy(), expected["volume"].to_numpy())
    assert intervals["binanceusdm BTC/USDT:USDT"] == 8.0
    assert intervals["hyperliquid BTC/USDC:USDC"] == 1.0
    assert n_anomalies == first.anomalies
    assert hourly == candles.assign(h=candles["time"].dt.floor("1h")).groupby(["symbol", "h"]).ngroups

    started = time.monotonic()
    second = load_recorded(clean_db, settings)
    elapsed = time.monotonic() - started
    assert (second.written, second.anomalies) == (0, 0)
    print(f"second load-recorded: {elapsed:.2f} s")
