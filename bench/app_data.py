"""The database of ``make bench-app`` (``alphapulse_bench_app``, created once and reused): the bundled recorded
history through INGEST's loader plus derived symbols and derived per-minute predicted funding (see
``bench/bench_app.py``'s docstring for what each part is and why it is labelled derived)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, text

from bench.servers import migrated_database
from db.writes import write_candles, write_funding, write_metrics
from ingest.metrics import Metrics, hypertable_storage
from ingest.recorded import load_recorded, read_funding, read_klines_1m
from settings import get_settings

DB_NAME = "alphapulse_bench_app"
DERIVED_COPIES = 9
EXCHANGE = "binanceusdm"


def log(message: str) -> None:
    print(message, flush=True)


def bench_database(reload: bool) -> tuple[str, bool]:
    """URL of the benchmark database (created and migrated when missing or ``reload``); True when it is new."""
    return migrated_database(DB_NAME, reload)


def _derived_candles(candles: pd.DataFrame, k: int) -> pd.DataFrame:
    factor = 1 + k / 100
    out = candles.copy()
    out["symbol"] = [f"DRV{k}{s.split('/')[0]}/USDT:USDT" for s in out["symbol"]]
    for col in ("open", "high", "low", "close"):
        out[col] = out[col] * factor
    return out


def _predicted_funding(candles: pd.DataFrame, settled: pd.DataFrame) -> pd.DataFrame:
    """One predicted-funding snapshot per candle minute: the next settled rate of the base symbol, mark price the
    minute's close, index price its open (all derived: no per-minute index prices are recorded; premiums of a few
    basis points, as the venues' are, so the premium chart reads as many rows as live data gives it)."""
    parts = []
    for symbol, group in candles.groupby("symbol"):
        base = symbol.split("/")[0].removeprefix("DRV").lstrip("0123456789") + "/USDT:USDT"
        sched = settled[settled["symbol"] == base].sort_values("time")
        merged = pd.merge_asof(group[["time", "open", "close"]].sort_values("time"),
                               sched[["time", "funding_rate", "funding_interval_hours"]].rename(
                                   columns={"time": "next_funding_time"}),
                               left_on="time", right_on="next_funding_time", direction="forward")  # fmt: skip
        merged = merged.dropna(subset=["funding_rate"])
        parts.append(pd.DataFrame({
            "time": merged["time"], "exchange": EXCHANGE, "symbol": symbol, "settled": False,
            "funding_rate": merged["funding_rate"], "funding_interval_hours": merged["funding_interval_hours"],
            "mark_price": merged["close"], "index_price": merged["open"],
            "next_funding_time": merged["next_funding_time"],
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def load(engine: Engine) -> None:
    """Recorded history via INGEST's loader, then 45 derived symbols and per-minute predicted funding."""
    t0 = time.perf_counter()
    load_recorded(engine, get_settings())
    log(f"[bench-app] recorded history loaded through ingest.recorded in {time.perf_counter() - t0:.1f} s")
    candles = read_klines_1m()
    settled = read_funding()
    settled = settled[settled["exchange"] == EXCHANGE]
    t0, rows = time.perf_counter(), 0
    for k in range(1, DERIVED_COPIES + 1):
        derived = _derived_candles(candles, k)
        for _, part in derived.groupby("symbol"):
            rows += write_candles(engine, part).written
    log(f"[bench-app] derived candles: {rows:,} rows written in {time.perf_counter() - t0:.1f} s")
    t0, rows = time.perf_counter(), 0
    for k in range(0, DERIVED_COPIES + 1):
        frame = candles if k == 0 else _derived_candles(candles, k)
        for _, part in frame.groupby("symbol"):
            rows += write_funding(engine, _predicted_funding(part, settled)).written
    log(f"[bench-app] derived predicted funding: {rows:,} rows written in {time.perf_counter() - t0:.1f} s")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def sample_storage(engine: Engine) -> None:
    """One storage sample stamped now, as the live ingest worker writes one every ``storage_sample_seconds``
    (``ingest.metrics``: ``hypertable_bytes`` and ``hypertable_chunks`` per table, with the sampling process's
    ``worker_rss_bytes`` and ``worker_cpu_percent`` labelled ``worker=bench-app``), so the System page shows the
    benchmark data's sizes as it does in production."""
    metrics = Metrics()
    metrics.set_storage(hypertable_storage(engine))
    write_metrics(engine, metrics.sample(datetime.now(UTC), worker="bench-app"))
