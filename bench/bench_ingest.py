"""Ingest benchmark (prints figures; not a test, not part of ``make test``): ``make bench-ingest``.

1. **Pipeline vs raw COPY.** ``--rows`` (default 1,000,000) 1-minute candle rows go through the whole ingest
   path (validate → z-score anomalies → idempotent COPY/staging/ON CONFLICT write with the
   15-minute and 1-hour rollups) into the ``prices`` hypertable of a scratch database; in the same run the same rows
   are written with raw binary ``COPY`` into an empty copy of the table (also a hypertable, the chunk interval of
   ``prices``, same primary key). Prints rows/s of both and their ratio (goal: pipeline ≥ 0.5 × COPY). The reference
   COPY sends buffers encoded before the clock starts (:mod:`db.pgcopy`), so it measures the server alone; the
   older reference, psycopg's ``write_row`` (per-row encoding inside the timing), is printed as well.
   **The rows are derived**: the bundled real Binance 1-minute series of 5 symbols (215,991 rows) repeated
   under extra synthetic symbol names ``D<k><BASE>/USDT:USDT`` (exchange ``bench-derived``), prices unchanged.
2. **Worker RSS.** ``python -m ingest run`` polls ``--rss-symbols`` (default 100) Binance symbols from the local
   fake exchange (``python -m tests.fake_exchange``) for ``--rss-minutes`` (default 10); prints the worker's
   RSS (psutil) every minute and at the end (goal ≤ 150 MB). Beyond the 8 recorded symbols the names come from
   ``--rss-universe`` (default: the unlicensed premiumIndex snapshot in ``../shared/data``, not in the repository;
   the step is skipped with a message when it is absent); those symbols have no recorded data.

The scratch database ``alphapulse_bench_ingest`` is created on the configured server and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psutil
from sqlalchemy import text

from bench.servers import drop_database, migrated_database
from db.engine import make_engine
from db.pgcopy import encode
from db.schema import CHUNK_INTERVALS
from ingest.pipeline import ingest_candles
from ingest.recorded import read_klines_1m
from settings import PROJECT_ROOT, load_settings
from tests.fake_exchange.store import DEFAULT_BASES, SHARED_UNIVERSE_FILE, RecordedStore

DB_NAME = "alphapulse_bench_ingest"
COLUMNS = ("time", "exchange", "symbol", "timeframe", "price_kind", "open", "high", "low", "close", "volume",
           "quote_volume")
BINARY_TYPES = ["timestamptz", "text", "text", "text", "text", "float8", "float8", "float8", "float8", "float8",
                "float8"]


def derived_candles(n_rows: int) -> list[pd.DataFrame]:
    """Batches of real candles under derived symbol names (one batch per copy of the 5-symbol series)."""
    real = read_klines_1m()
    batches, total, k = [], 0, 0
    while total < n_rows:
        take = real.head(n_rows - total)
        names = {s: f"D{k}{s}" for s in take["symbol"].unique()}
        batches.append(take.assign(exchange="bench-derived", symbol=take["symbol"].map(names)))
        total += len(take)
        k += 1
    return batches


def bench_pipeline(engine, batches) -> float:
    settings = load_settings({})
    started = time.perf_counter()
    written = anomalies = 0
    for batch in batches:
        result = ingest_candles(engine, batch, settings)
        written += result.written
        anomalies += result.anomalies
    elapsed = time.perf_counter() - started
    print(f"  pipeline: {written:,} rows written, {anomalies:,} anomalies, {elapsed:.2f} s")
    return elapsed


def _empty_copy_table(engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        conn.execute(text(f"CREATE TABLE {name} (LIKE prices INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
        conn.execute(text(f"ALTER TABLE {name} ADD PRIMARY KEY (exchange, symbol, timeframe, price_kind, time)"))
        conn.execute(text(f"SELECT create_hypertable('{name}', 'time', create_default_indexes => false, "
                          "chunk_time_interval => CAST(:chunk AS interval))"), {"chunk": CHUNK_INTERVALS["prices"]})


def bench_copy(engine, batches) -> float:
    """Raw binary COPY of pre-encoded buffers (encoding not timed): the server's ingest speed, the reference."""
    _empty_copy_table(engine, "bench_copy")
    payloads = [encode(batch, dict(zip(COLUMNS, BINARY_TYPES, strict=True))) for batch in batches]
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    started = time.perf_counter()
    with engine.begin() as conn, conn.connection.driver_connection.cursor() as cur:
        for payload in payloads:
            with cur.copy(f"COPY bench_copy ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
    elapsed = time.perf_counter() - started
    print(f"  raw binary COPY (pre-encoded buffers): {sum(len(b) for b in batches):,} rows, {elapsed:.2f} s")
    return elapsed


def bench_copy_rows(engine, batches) -> float:
    """Raw binary COPY through psycopg's ``write_row`` (per-row encoding in the timing; the reference until
    2026-11-21), for comparison."""
    _empty_copy_table(engine, "bench_copy_rows")
    rows = []
    for batch in batches:  # preparing Python tuples is not part of the COPY timing
        data = batch.loc[:, list(COLUMNS)]
        columns = [data["time"].dt.to_pydatetime()] + [data[c].tolist() for c in COLUMNS[1:]]
        rows.extend(zip(*columns, strict=True))
    rows = [tuple(None if isinstance(v, float) and v != v else v for v in r) for r in rows]  # noqa: PLR0124
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    started = time.perf_counter()
    with engine.begin() as conn, conn.connection.driver_connection.cursor() as cur, cur.copy(
        f"COPY bench_copy_rows ({cols}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(BINARY_TYPES)
        for row in rows:
            copy.write_row(row)
    elapsed = time.perf_counter() - started
    print(f"  raw binary COPY (psycopg write_row): {len(rows):,} rows, {elapsed:.2f} s")
    return elapsed


def bench_rss(db_url: str, minutes: float, n_symbols: int, universe: Path) -> None:
    if n_symbols > len(DEFAULT_BASES) and not universe.is_file():
        print(f"worker RSS skipped: {n_symbols} symbols need their names from {universe} (an unlicensed premiumIndex "
              f"snapshot kept outside the repository), which is absent; pass --rss-universe or --rss-symbols "
              f"{len(DEFAULT_BASES)}")
        return
    bases = RecordedStore.load(n_symbols, universe).bases
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_exchange", "--symbols", str(n_symbols),
                             "--universe", str(universe), "--running"],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    worker = None
    try:
        url = re.search(r"(http://\S+)", fake.stdout.readline()).group(1)
        days = (datetime.now(UTC) - datetime(2025, 6, 16, tzinfo=UTC)).days + 1
        env = {**os.environ, "DATABASE_URL": db_url, "ALPHAPULSE_EXCHANGE_BASE_URL": url,
               "ALPHAPULSE_EXCHANGES": "binanceusdm", "ALPHAPULSE_SYMBOLS": ",".join(bases),
               "ALPHAPULSE_BACKFILL_DAYS": str(days), "ALPHAPULSE_LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen([sys.executable, "-m", "ingest", "run"], cwd=PROJECT_ROOT, env=env,
                                  stderr=subprocess.DEVNULL)
        proc, peak, started = psutil.Process(worker.pid), 0, time.monotonic()
        while time.monotonic() - started < minutes * 60 and worker.poll() is None:
            time.sleep(min(60.0, minutes * 60))
            rss = proc.memory_info().rss
            peak = max(peak, rss)
            print(f"  after {(time.monotonic() - started) / 60:.1f} min: worker RSS {rss / 2**20:.1f} MB")
        print(f"worker RSS after {minutes:g} min polling {len(bases)} symbols: {rss / 2**20:.1f} MB "
              f"(peak {peak / 2**20:.1f} MB; goal <= 150 MB)")
        engine = make_engine(db_url)
        with engine.connect() as conn:
            counts = conn.execute(text(
                "SELECT (SELECT count(DISTINCT symbol) FROM funding_rates WHERE NOT settled),"
                " (SELECT count(*) FROM prices WHERE exchange = 'binanceusdm'),"
                " (SELECT count(*) FROM system_metrics)")).one()
        engine.dispose()
        print(f"  the worker stored current funding of {counts[0]} symbols, {counts[1]:,} candles, "
              f"{counts[2]:,} metric samples")
    finally:
        for p in (worker, fake):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=15)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="candle rows (derived from recorded data)")
    parser.add_argument("--rss-minutes", type=float, default=10.0, help="worker polling time for the RSS figure")
    parser.add_argument("--rss-symbols", type=int, default=100, help="symbols the worker polls")
    parser.add_argument("--rss-universe", type=Path, default=SHARED_UNIVERSE_FILE,
                        help="premiumIndex JSON naming the symbols beyond the 8 recorded ones (outside the repo)")
    args = parser.parse_args(argv)
    db_url, _ = migrated_database(DB_NAME, reload=True)
    engine = make_engine(db_url)
    try:
        batches = derived_candles(args.rows)
        n = sum(len(b) for b in batches)
        print(f"ingest benchmark: {n:,} candle rows (DERIVED: real Binance 1m series under synthetic symbol names)")
        pipeline_s = bench_pipeline(engine, batches)
        copy_s = bench_copy(engine, batches)
        rows_s = bench_copy_rows(engine, batches)
        print(f"pipeline {n / pipeline_s:,.0f} rows/s | raw binary COPY {n / copy_s:,.0f} rows/s | "
              f"ratio {copy_s / pipeline_s:.2f} (goal >= 0.5)")
        print(f"  (raw COPY via psycopg write_row: {n / rows_s:,.0f} rows/s, ratio {rows_s / pipeline_s:.2f})")
        if args.rss_minutes > 0:
            bench_rss(db_url, args.rss_minutes, args.rss_symbols, args.rss_universe)
    finally:
        engine.dispose()
        drop_database(db_url)


if __name__ == "__main__":
    main()
