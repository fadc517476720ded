"""``make bench-market``: market-wide funding reads and the all-market snapshot write at full universe size (issue 8,
"Benchmark"; prints figures, asserts nothing; not part of ``make test``).

Data (:mod:`bench.market_data`, every row labelled with its origin and the counts printed): ~1,790 venue + symbol
pairs × 90 days of settled funding ending 2026-03-07 12:00 UTC — 5 coins × 7 venues recorded (bundled
cross-venue year), ~530 Binance symbols recorded (shared all-symbols file) and tiled back to 90 days (derived),
bybit/okx/hyperliquid copies of the Binance series (derived, permuted across symbols; Hyperliquid hourly at rate / h)
— plus a day of 60-second predicted snapshots of every pair (derived) and open interest (recorded for the 35
recorded pairs, derived for the rest). Loaded into a scratch database ``alphapulse_bench_market`` (alembic head,
dropped at the end) through ``db.writes`` as ingest writes; the user's database is untouched.

Figures:

* **write**: each minute's all-market snapshot (one row per pair) through ``db.writes.write_funding`` as the
  ingest worker writes it: p50/p95 ms (goal ≤ 50 ms p95).
* **reads**, at 2026-03-07 12:00 UTC (snapshot, spreads) and over the 7 d / 30 d before it (heatmap at the
  Markets page's buckets, 4 h / 8 h; accumulated funding): p50/p95 ms of the ``db.queries`` function in process
  (perf_counter around the call), of the API endpoint through Flask's test client with the shared cache emptied
  before each call (a miss: the server's whole work; bytes as sent to a browser, zstd-compressed by
  Flask-Compress), and of a naive read (:mod:`bench.market_naive`: plain SQL over raw rows; bytes uncompressed
  JSON). Goals: p95 ≤ 50 ms, ≥ 5× faster than naive at 30 d, heatmap response ≤ 300 KB.
* **write on a kept database** (``--reuse --write-minutes N``): :mod:`bench.market_write`.
* **worker RSS** (``--rss-minutes``, 0 skips): :mod:`bench.market_rss`.

The machine may be shared: the figures are as measured. The shared Binance file is read from /work/shared only;
when it is absent the bench says so and stops.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd

from bench import market_data as md
from bench import market_naive as naive
from bench.bench_app import BROWSER, measure
from bench.market_write import bench_writes
from bench.servers import drop_database, migrated_database
from db import queries
from db.engine import make_engine
from db.writes import write_funding, write_open_interest

DB_NAME = "alphapulse_bench_market"
GOAL_P95_MS, GOAL_SPEEDUP, GOAL_BYTES = 50.0, 5.0, 300_000


def log(message: str) -> None:
    print(message, flush=True)


def load(engine, settled: pd.DataFrame, oi: pd.DataFrame, minutes: list[pd.DataFrame]) -> list[float]:
    """Settled rows and open interest in batches, then each minute's snapshot timed (ms per write)."""
    started = time.perf_counter()
    for _, part in settled.groupby(["exchange", settled.index // 100_000], sort=False):
        write_funding(engine, part.drop(columns="origin"))
    write_open_interest(engine, oi.drop(columns="origin"))
    log(f"  settled rows and open interest loaded in {time.perf_counter() - started:.0f} s")
    times = []
    for frame in minutes:
        t0 = time.perf_counter()
        write_funding(engine, frame)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cases:
    """Each measured read as three callables (db function → rows, API → bytes, naive → bytes)."""

    def __init__(self, engine, client, top: list[str]) -> None:
        self.engine, self.client, self.top = engine, client, top
        self.cache = client.application.extensions["alphapulse_cache"]

    def db(self, fn: Callable, *args) -> Callable[[], int]:
        def run() -> int:
            with self.engine.connect() as conn:
                return len(fn(conn, *args))
        return run

    def api(self, path: str) -> Callable[[], int]:
        def run() -> int:
            self.cache._cache.clear()  # outside the timing would be nicer; it is a few Redis deletes
            response = self.client.get(path, headers=BROWSER)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return len(response.get_data())
        return run

    def naive(self, fn: Callable, *args) -> Callable[[], int]:
        def run() -> int:
            with self.engine.connect() as conn:
                return fn(conn, *args)[1]
        return run

    def all(self) -> dict[str, tuple[Callable, Callable, Callable]]:
        end, at = md.END, _iso(md.END)
        out = {
            "cross-venue table (snapshot)": (self.db(queries.funding_snapshot, None, None, end),
                                             self.api(f"/api/funding/snapshot?at={at}"),
                                             self.naive(naive.snapshot, end)),
            "arbitrage ranking (spreads)": (self.db(queries.funding_spreads, None, None, end),
                                            self.api(f"/api/funding/spreads?at={at}"), self.naive(naive.spreads, end)),
        }  # fmt: skip
        for days, width, wname in ((7, timedelta(hours=4), "4h"), (30, timedelta(hours=8), "8h")):
            start = end - timedelta(days=days)
            rng = f"start={_iso(start)}&end={at}&bucket={wname}"
            out[f"heatmap {days}d binanceusdm every coin ({wname})"] = (
                self.db(queries.funding_heatmap, "binanceusdm", None, start, end, width),
                self.api(f"/api/funding/heatmap?exchange=binanceusdm&{rng}"),
                self.naive(naive.heatmap, "binanceusdm", None, start, end, width))
            out[f"heatmap {days}d top 100 by OI, all venues ({wname})"] = (
                self.db(queries.funding_heatmap, None, self.top, start, end, width),
                self.api(f"/api/funding/heatmap?coins={','.join(self.top)}&{rng}"),
                self.naive(naive.heatmap, None, self.top, start, end, width))
        start = end - timedelta(days=30)
        out["accumulated funding 30d"] = (self.db(queries.accumulated_funding, None, None, start, end),
                                          self.api(f"/api/funding/accumulated?start={_iso(start)}&end={at}"),
                                          self.naive(naive.accumulated, start, end))  # fmt: skip
        return out


def bench_reads(engine, url: str, repeat: int, only: str | None) -> None:
    from app import create_app, with_database
    from settings import get_settings

    client = create_app(with_database(get_settings(), url), with_dashboard=False).test_client()
    with engine.connect() as conn:
        snap = queries.funding_snapshot(conn, None, None, md.END)
    top = snap.groupby("coin")["open_interest_value"].sum().nlargest(100).index.tolist()
    gc.freeze()
    log(f"{'read':48s} {'db p50/p95 ms':>16s} {'api p50/p95 ms':>16s} {'api KB':>8s} {'naive p50/p95 ms':>18s} "
        f"{'naive KB':>9s} {'x naive':>7s}")
    for name, (db_fn, api_fn, naive_fn) in Cases(engine, client, top).all().items():
        if only and only not in name:
            continue
        d50, d95, rows = measure(db_fn, repeat)
        a50, a95, size = measure(api_fn, repeat)
        n50, n95, nsize = measure(naive_fn, max(3, repeat // 2))
        goal = " (KB goal <= 300)" if "heatmap" in name else ""
        log(f"{name:48s} {d50:7.1f}/{d95:7.1f} {a50:7.1f}/{a95:7.1f} {size / 1000:8.1f} {n50:8.1f}/{n95:8.1f} "
            f"{nsize / 1000:9.1f} {n50 / a50:7.1f}  [{rows} rows]{goal}")
    log(f"goals: p95 <= {GOAL_P95_MS:g} ms; >= {GOAL_SPEEDUP:g}x naive at 30 d (x naive = naive p50 / api p50); "
        f"heatmap <= {GOAL_BYTES // 1000} KB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=1440, help="minutes of 60 s snapshots (default a day)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per read (after one warm-up)")
    parser.add_argument("--only", default=None, help="only the reads whose name contains this")
    parser.add_argument("--rss-minutes", type=float, default=3.0, help="ingest worker run for the RSS figure")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (re-used with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="measure the reads on a kept database")
    parser.add_argument("--database", default=DB_NAME, help=f"scratch database name (default {DB_NAME})")
    parser.add_argument("--write-minutes", type=int, default=0,
                        help="with --reuse: after the reads, time this many more snapshot writes (bench.market_write)")
    args = parser.parse_args(argv)
    if not md.ALL_SYMBOLS.exists():
        log(f"bench-market: {md.ALL_SYMBOLS} is absent (the shared all-symbols Binance funding file); skipped.")
        return
    os.environ.setdefault("ALPHAPULSE_REDIS_PREFIX", "alphapulse-bench-market")
    from bench.market_rss import bench_rss

    url, _ = migrated_database(args.database, reload=not args.reuse)
    engine = make_engine(url)
    try:
        if not args.reuse:
            fill(engine, args.minutes)
        bench_reads(engine, url, args.repeat, args.only)
        if args.reuse and args.write_minutes > 0:  # after the reads: its minutes come after their "now"
            bench_writes(engine, args.write_minutes, GOAL_P95_MS, log)
        if args.rss_minutes > 0:
            bench_rss(url, args.rss_minutes, (md.START, md.END))
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)


def fill(engine, minutes: int) -> None:
    """Build the data set (origins printed), load it and print the snapshot write figures."""
    settled = md.settled_rows(md.binance_series())
    oi = md.open_interest_rows(settled)
    snaps = md.predicted_minutes(settled, minutes)
    pairs = settled[["exchange", "symbol"]].drop_duplicates()
    log(f"data: {len(pairs):,} venue + symbol pairs, {len(settled):,} settled rows {md.START:%Y-%m-%d %H:%M} -> "
        f"{md.END:%Y-%m-%d %H:%M} UTC, {sum(map(len, snaps)):,} predicted rows ({minutes} minutes, derived)")
    counts = settled.groupby(["origin", "exchange"]).agg(rows=("time", "size"), pairs=("symbol", "nunique"))
    for (origin, exchange), row in counts.iterrows():
        log(f"  settled  {origin:30s} {exchange:14s} {row['pairs']:5d} pairs {row['rows']:9,d} rows")
    for origin, n in oi.groupby("origin").size().items():
        log(f"  open interest {origin:25s} {n:9,d} rows")
    times = load(engine, settled, oi, snaps)
    rows = int(np.median([len(f) for f in snaps]))
    log(f"write one all-market snapshot ({rows:,} rows, write_funding): p50 {statistics.median(times):.1f} ms, "
        f"p95 {np.percentile(times, 95):.1f} ms over {len(times)} minutes (goal p95 <= {GOAL_P95_MS:g} ms)")


if __name__ == "__main__":
    main()
