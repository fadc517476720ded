"""Funding and system-metric writes through the binary COPY encoder (:mod:`db.pgcopy`): exact round trip of
floats, timestamps, booleans, NULLs and JSONB labels; replay writes nothing; the staging tables a connection keeps
between writes (real TimescaleDB)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
from sqlalchemy import text

from db.writes import FUNDING_COLUMNS, METRIC_COLUMNS, write_funding, write_metrics
from ingest.recorded import read_funding
from tests.rollup_helpers import assert_rollups_match_raw, predicted_snapshots


def _funding_batch() -> pd.DataFrame:
    """Recorded settled rows (every exchange; mark price present on some) plus predicted snapshots DERIVED from
    them (settled=False, next_funding_time = time + interval, index price = recorded mark price where present):
    both booleans, NULL and non-NULL doubles and timestamps."""
    funding = read_funding()
    settled = funding.groupby("exchange").head(40)
    with_mark = funding[funding["mark_price"].notna()].head(40)
    settled = pd.concat([settled, with_mark]).drop_duplicates(["exchange", "symbol", "time"])
    predicted = settled.assign(
        settled=False,
        index_price=settled["mark_price"],
        next_funding_time=settled["time"] + pd.to_timedelta(settled["funding_interval_hours"], unit="h"),
    )
    predicted.loc[predicted.index[::3], "next_funding_time"] = pd.NaT
    return pd.concat([settled, predicted], ignore_index=True)[list(FUNDING_COLUMNS)]


def _stored(engine, sql: str, columns) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(text(sql)).all(), columns=list(columns))


def _bits(values) -> np.ndarray:
    """IEEE-754 bit patterns (NaN for NULL), so equality means exactly the same double."""
    return np.asarray(pd.Series(values, dtype="float64").to_numpy(na_value=np.nan)).view("u8")


def test_funding_round_trips_exactly_and_replay_writes_nothing(clean_db):
    batch = _funding_batch()
    first = write_funding(clean_db, batch)
    assert (first.written, first.received) == (len(batch), len(batch)) and first.rollups > 0
    cols = ", ".join(f'"{c}"' for c in FUNDING_COLUMNS)
    stored = _stored(
        clean_db, f"SELECT {cols} FROM funding_rates ORDER BY exchange, symbol, settled, time", FUNDING_COLUMNS
    )
    expected = batch.sort_values(["exchange", "symbol", "settled", "time"], ignore_index=True)
    for name in ("exchange", "symbol", "settled"):
        assert stored[name].tolist() == expected[name].tolist(), name
    for name in ("time", "next_funding_time"):
        assert pd.to_datetime(stored[name], utc=True).equals(pd.to_datetime(expected[name], utc=True)), name
    for name in ("funding_rate", "funding_interval_hours", "mark_price", "index_price"):
        assert (_bits(stored[name]) == _bits(expected[name])).all(), name
    assert stored["next_funding_time"].isna().sum() == expected["next_funding_time"].isna().sum() > 0
    replay = write_funding(clean_db, batch)
    assert (replay.written, replay.rollups) == (0, 0)


def test_funding_duplicate_keys_in_one_batch_keep_the_rest(clean_db):
    batch = _funding_batch()
    result = write_funding(clean_db, pd.concat([batch, batch.head(5)], ignore_index=True))
    assert result.written == len(batch)


def test_metrics_round_trip_labels_and_values_exactly(clean_db):
    now = pd.Timestamp.now(tz="UTC").floor("us")
    labels = [
        {},
        {"exchange": "okx", "stream": "funding"},
        {"worker": "ingest-1", "note": 'Größe ≥ 1 µs "q"'},
        {"nested": {"a": [1, 2.5, None, True]}},
    ]
    samples = pd.DataFrame(
        {
            "time": [now] * 4,
            "metric": "fetch_latency_seconds",
            "value": [1 / 3, sys.float_info.min, sys.float_info.max, -0.0],
            "unit": "seconds",
            "labels": labels,
        }
    )
    assert write_metrics(clean_db, samples).written == 4
    stored = _stored(
        clean_db, "SELECT time, metric, value, unit, labels FROM system_metrics ORDER BY value", METRIC_COLUMNS
    )
    expected = samples.sort_values("value", ignore_index=True)
    assert stored["labels"].tolist() == expected["labels"].tolist()
    assert (_bits(stored["value"]) == _bits(expected["value"])).all()
    assert pd.to_datetime(stored["time"], utc=True).equals(expected["time"])
    assert write_metrics(clean_db, samples).written == 0


def test_neither_the_web_app_nor_the_ingest_worker_loads_pyarrow():
    """pandas 3 imports pyarrow by itself whenever it is installed (~35 MB RSS per process): it must not be."""
    code = "import sys, app.wsgi, ingest.worker; print(sorted(m for m in sys.modules if m.startswith('pyarrow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_write_funding_on_one_connection_reuses_its_emptied_staging_tables(clean_db):
    """The staging and touched-hours temporary tables live as long as the connection and are emptied at commit:
    batches sharing a transaction, a rolled-back batch and a later batch mixing new minutes with minutes older than
    the stored newest (its hours recomputed) all leave the rollups equal to the raw rows."""
    snaps = predicted_snapshots("BTC/USDT:USDT", hours=3)
    first, second, rest = snaps.iloc[:60], snaps.iloc[60:100], snaps.iloc[100:]
    with clean_db.connect() as conn:
        with conn.begin():
            assert write_funding(conn, first).written == len(first)
            assert write_funding(conn, second).written == len(second)
        with conn.begin():
            assert conn.execute(text("SELECT count(*) FROM stage_funding_rates")).scalar_one() == 0
        dropped = conn.begin()
        assert write_funding(conn, rest.iloc[::2]).written == len(rest.iloc[::2])
        dropped.rollback()
        with conn.begin():
            assert write_funding(conn, rest.iloc[::3]).written == len(rest.iloc[::3])
        assert_rollups_match_raw(clean_db)
        with conn.begin():  # the minutes between those stored: older than the newest row in the same hours
            assert write_funding(conn, rest).written == len(rest) - len(rest.iloc[::3])
        with conn.begin():
            assert conn.execute(text("SELECT count(*) FROM touched_funding_hours")).scalar_one() == 0
    assert_rollups_match_raw(clean_db)
    assert write_funding(clean_db, snaps).rollups == 0
