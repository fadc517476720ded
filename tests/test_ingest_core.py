"""Ingest core: symbol spellings, validation, z-scores against scipy on recorded data, idempotent writes,
1-hour rollups and the bundled-history loader (real TimescaleDB)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import text

from db.writes import DIRECT_COPY_MIN_ROWS, ROLLUP_WIDTHS, write_anomalies, write_candles, write_funding
from ingest.anomaly import candle_metrics, frame_anomalies
from ingest.anomaly.robust import MAD_SCALE, robust_anomalies, trailing_robust
from ingest.pipeline import ingest_candles
from ingest.recorded import read_funding, read_klines_1m
from ingest.symbols import SymbolError, display_symbol, normalize_symbol
from ingest.validate import validate_candles, validate_funding
from settings import load_settings

SETTINGS = load_settings({})


@pytest.fixture(scope="module")
def klines() -> pd.DataFrame:
    return read_klines_1m()


@pytest.mark.parametrize("raw", ["BTC/USDT", "BTCUSDT", "btc", "BTC/USDT:USDT", " btc-usdt-swap ", "btc_usdt"])
def test_symbol_spellings_normalise(raw):
    assert normalize_symbol(raw) == "BTC/USDT:USDT"
    assert display_symbol(normalize_symbol(raw)) == "BTC/USDT"


@pytest.mark.parametrize("raw", ["", "BTC/USD:BTC", "BTC USDT", "€"])
def test_bad_symbols_raise(raw):
    with pytest.raises(SymbolError):
        normalize_symbol(raw)


def test_robust_zscore_matches_scipy_on_recorded_volume(klines):
    eth = klines[klines["symbol"] == "ETH/USDT:USDT"].head(1200)
    values = candle_metrics(eth)["log_volume_1m"][0]
    ours = trailing_robust(values, 240, 30)
    x = values.to_numpy()
    for t in range(31, len(x), 11):
        prior = x[max(0, t - 240) : t]
        mad = stats.median_abs_deviation(prior, scale=1 / MAD_SCALE)  # MAD × 1.4826
        assert ours["centre"].iloc[t] == pytest.approx(np.median(prior), rel=1e-12)
        assert ours["spread"].iloc[t] == pytest.approx(mad, rel=1e-12)
        assert ours["z"].iloc[t] == pytest.approx((x[t] - np.median(prior)) / mad, rel=1e-12)


def test_robust_prefilter_finds_exactly_the_exhaustive_anomalies(klines):
    sol = klines[klines["symbol"] == "SOL/USDT:USDT"].head(6000)
    for values, _ in candle_metrics(sol).values():
        full = trailing_robust(values, 240, 30, floor=1e-4)
        expected = np.flatnonzero((full["z"].abs() >= 4.0).to_numpy())
        found = robust_anomalies(values, 240, 30, 4.0, floor=1e-4)
        assert len(expected) > 10
        np.testing.assert_array_equal(found["pos"].to_numpy(), expected)
        np.testing.assert_allclose(found["z"].to_numpy(), full["z"].to_numpy()[expected], rtol=1e-12)


def test_validation_rejects_each_bad_candle_and_keeps_the_rest(klines):
    frame = klines.head(8).copy().reset_index(drop=True)
    frame.loc[1, "close"] = np.nan
    frame.loc[2, "low"] = -1.0
    frame.loc[3, ["high", "low"]] = [frame.loc[3, "low"], frame.loc[3, "high"] + 1]
    frame.loc[4, "time"] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    frame.loc[5, "time"] = pd.Timestamp("2015-01-01", tz="UTC")
    frame.loc[6, "symbol"] = "DOGE/USDT:USDT"
    checked = validate_candles(frame, SETTINGS, known_symbols={"BNB/USDT:USDT"})
    assert list(checked.rejected["reason"]) == [
        "price_not_finite",
        "price_not_positive",
        "high_lt_low",
        "time_future",
        "time_before_exchange",
        "unknown_symbol",
    ]
    assert list(checked.valid.index) == [0, 7]


def test_validation_rejects_funding_beyond_bound():
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "time": [now] * 3,
            "exchange": "bybit",
            "symbol": "BTC/USDT:USDT",
            "settled": False,
            "funding_rate": [0.0001, 0.2, np.inf],
            "funding_interval_hours": [8.0, 8.0, 0.0],
            "mark_price": [100.0, 100.0, 100.0],
            "index_price": [100.0, 100.0, 100.0],
            "next_funding_time": [now] * 3,
        }
    )
    checked = validate_funding(frame, SETTINGS)
    assert list(checked.rejected["reason"]) == ["funding_out_of_bounds", "funding_not_finite"]
    assert checked.rejected_counts() == {
        ("bybit", "BTC/USDT:USDT", "funding_out_of_bounds"): 1,
        ("bybit", "BTC/USDT:USDT", "funding_not_finite"): 1,
    }


def test_candle_writes_are_idempotent_and_a_duplicate_keeps_the_batch(clean_db, klines):
    batch = klines[klines["symbol"] == "XRP/USDT:USDT"].head(300)
    first = write_candles(clean_db, batch.head(100))
    assert first.written == 100
    again = write_candles(clean_db, batch)  # 100 duplicates + 200 new, and an in-batch duplicate
    assert again.written == 200
    replay = write_candles(clean_db, pd.concat([batch, batch.tail(1)]))
    assert (replay.written, replay.rollups) == (0, 0)
    with clean_db.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM prices WHERE timeframe = '1m'")).scalar_one()
    assert n == 300


def test_candle_rollups_equal_resampled_recorded_candles(clean_db, klines):
    """Every rollup timeframe (15m, 1h) equals the recorded 1-minute candles resampled in pandas, also for a bucket
    split over two batches (250 is inside a quarter hour and an hour: the second batch corrects both)."""
    bnb = klines[klines["symbol"] == "BNB/USDT:USDT"].head(600)
    write_candles(clean_db, bnb.iloc[:250])
    write_candles(clean_db, bnb.iloc[250:])
    for timeframe, width in ROLLUP_WIDTHS.items():
        want = (
            bnb.set_index("time")
            .resample(width)
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        )
        with clean_db.connect() as conn:
            stored = pd.DataFrame(
                conn.execute(
                    text("SELECT time, open, high, low, close, volume FROM prices WHERE timeframe = :tf ORDER BY time"),
                    {"tf": timeframe},
                )
                .mappings()
                .all()
            ).set_index("time")
        assert len(stored) == len(want) > 1, timeframe
        for col in ("open", "high", "low", "close"):
            np.testing.assert_array_equal(stored[col].to_numpy(), want[col].to_numpy(), err_msg=timeframe)
        np.testing.assert_allclose(stored["volume"].to_numpy(), want["volume"].to_numpy(), rtol=1e-12)


def test_rollups_from_the_batch_equal_the_sql_rollups_with_null_volumes(clean_db, klines):
    """A batch alone in its hours is rolled up client-side (db.writes.candle_rollups); the stored 15-minute and
    1-hour rows must equal what the SQL aggregate gives over the stored 1-minute rows. Derived input: recorded ETH
    candles with the volumes of one whole hour and of a few single minutes set to NULL."""
    eth = klines[klines["symbol"] == "ETH/USDT:USDT"].reset_index(drop=True)
    eth = eth.iloc[int(np.argmax(eth["time"].dt.minute == 0)) :].head(300).reset_index(drop=True)  # from a full hour
    hours = eth["time"].dt.floor("1h")
    eth.loc[hours == hours.iloc[60], "volume"] = np.nan
    eth.loc[[130, 200, 201], "volume"] = np.nan
    buckets = sum(eth["time"].dt.floor(width).nunique() for width in ROLLUP_WIDTHS.values())
    assert write_candles(clean_db, eth).rollups == buckets
    for timeframe, width in ROLLUP_WIDTHS.items():
        with clean_db.connect() as conn:
            stored = pd.DataFrame(
                conn.execute(
                    text(
                        "SELECT time, open, high, low, close, volume, quote_volume FROM prices WHERE timeframe = :tf "
                        "ORDER BY time"
                    ),
                    {"tf": timeframe},
                )
                .mappings()
                .all()
            )
            sql = pd.DataFrame(
                conn.execute(
                    text(
                        "SELECT time_bucket(:w, time) AS time, first(open, time) AS open, max(high) AS high, "
                        "min(low) AS low, last(close, time) AS close, sum(volume) AS volume, sum(quote_volume) AS "
                        "quote_volume FROM prices WHERE timeframe = '1m' GROUP BY 1 ORDER BY 1"
                    ),
                    {"w": width.to_pytimedelta()},
                )
                .mappings()
                .all()
            )
        assert stored["volume"].isna().sum() == 60 // (width // pd.Timedelta(minutes=1)), timeframe  # the NULL hour
        pd.testing.assert_frame_equal(stored, sql, rtol=1e-12)


def test_large_anomaly_batches_copy_straight_in_and_replay_writes_nothing(clean_db, klines):
    """Anomalies of the recorded candles (real data): a batch above DIRECT_COPY_MIN_ROWS into an empty range is
    copied straight in; a replay, and a batch overlapping stored anomalies, write only what is new."""
    found = frame_anomalies(
        klines[klines["timeframe"] == "1m"], candle_metrics, window=240, min_periods=30, threshold_scale=0.3
    )
    first = found.iloc[::2]
    assert len(first) >= DIRECT_COPY_MIN_ROWS
    assert write_anomalies(clean_db, first).written == len(first)
    assert write_anomalies(clean_db, first).written == 0
    assert write_anomalies(clean_db, found).written == len(found) - len(first)
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM anomalies")).scalar_one() == len(found)


def test_replaying_a_batch_writes_no_rows_and_no_anomalies(clean_db, klines):
    batch = klines[klines["symbol"] == "SOL/USDT:USDT"].head(2000)
    first = ingest_candles(clean_db, batch, load_settings({"ALPHAPULSE_ANOMALY_THRESHOLD_SCALE": "0.5"}))
    assert first.written == 2000 and first.anomalies > 0
    replay = ingest_candles(clean_db, batch, load_settings({"ALPHAPULSE_ANOMALY_THRESHOLD_SCALE": "0.5"}))
    assert (replay.written, replay.anomalies, replay.rollups) == (0, 0, 0)


def test_funding_upsert_fills_mark_price_once(clean_db):
    funding = read_funding()
    btc = funding[(funding["exchange"] == "binanceusdm") & funding["mark_price"].notna()].head(20)
    assert write_funding(clean_db, btc.assign(mark_price=np.nan)).written == 20
    assert write_funding(clean_db, btc).written == 20  # mark price arrives later: an update
    assert write_funding(clean_db, btc).written == 0
    assert write_funding(clean_db, btc.assign(mark_price=np.nan)).written == 0  # never overwritten by NULL


def test_recorded_intervals_keep_8h_4h_and_1h():
    funding = read_funding()
    intervals = funding.groupby(["exchange", "symbol"])["funding_interval_hours"].agg(set)
    assert intervals[("binanceusdm", "BTC/USDT:USDT")] == {8.0}
    assert intervals[("binanceusdm", "HYPE/USDT:USDT")] == {4.0}
    assert intervals[("hyperliquid", "BTC/USDC:USDC")] == {1.0}


