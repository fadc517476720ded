"""``make bench-app``: server time and response size of the app's chart queries and API endpoints (prints figures).

Not a test: nothing is asserted; the goals of issue 4 are printed next to the figures (p95 <= 50 ms at every range,
>= 5x faster than a naive raw-row query at 30 d, responses <= 300 KB, gunicorn worker RSS <= 150 MB).

Data (database ``alphapulse_bench_app`` on the configured server, created once and reused; ``--reload`` rebuilds):

* **recorded**: the bundled real history through INGEST's loader (``ingest.recorded.load_recorded``): Binance USD-M
  1-minute candles of BTC, ETH, SOL, BNB, XRP for 30 days (2025-05-25 -> 2025-06-24), settled funding, anomalies;
* **derived** (labelled so in the symbol name, ``DRV<k><BASE>/USDT:USDT``, k = 1..9): 45 more symbols, each a copy of
  one recorded symbol's 1-minute candles with prices multiplied by (1 + k/100) -> 50 symbols x 30 days x 1,440
  candles; written through INGEST's write path ``db.writes.write_candles`` (COPY -> staging -> ON CONFLICT, 15-minute
  and 1-hour rollups upserted);
* **derived predicted funding** for all 50 symbols: one snapshot per minute (the live worker's 60 s cadence), the
  rate = the next settled rate of the recorded base symbol, mark price = that minute's close, index price its open;
  ``write_funding``.

Measured per range (1 h, 24 h, 7 d, 30 d ending at the newest candle) for the 5 recorded symbols, REPEAT runs after
a warm-up, in process (server time = the handler's time without network; bytes = as sent to a browser, i.e.
compressed by Flask-Compress with zstd level 1; naive cases: uncompressed JSON):
``/api/prices``, ``/api/funding-rates``, ``/api/anomalies`` via Flask's test client; the overview's chart work
(query + UI's figure builder + Plotly JSON, i.e. the body of the Dash callback's figure); and the naive variants
(every raw 1-minute candle / funding snapshot in the range, no bucketing, same JSON encoder); and the
``db.queries`` functions alone (DataFrame out, size in rows). Then gunicorn is
started on a free port with the configured workers, exercised over HTTP, and its workers' memory is read.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from backports import zstd
from plotly.io.json import to_json_plotly
from sqlalchemy import Engine, text

from app import create_app, with_database
from app.figures import MAX_MARKERS, funding_figure, price_figure
from app.serialize import dumps, json_records
from bench import page_views
from bench.app_data import EXCHANGE, bench_database, load, sample_storage
from bench.servers import start_gunicorn
from db import queries
from db.engine import make_engine
from settings import PROJECT_ROOT, get_settings

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
REPEAT = 20
GOAL_P95_MS, GOAL_SPEEDUP, GOAL_BYTES, GOAL_RSS_MB = 50.0, 5.0, 300_000, 150.0
#: What a current browser sends: responses are measured as they go over the wire (Flask-Compress, zstd level 1).
BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}


def log(message: str) -> None:
    print(message, flush=True)


# --- measurement --------------------------------------------------------------------------------------------------


def measure(fn: Callable[[], int], repeat: int = REPEAT) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, bytes of the last run) of ``fn`` (which returns its response size) after one warm-up."""
    size = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), float(np.percentile(times, 95)), size


def _iso(t) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _naive_json(conn, sql: str, params: dict) -> int:
    result = conn.execute(text(sql), params)
    keys = list(result.keys())
    rows = result.fetchall()
    frame = pd.DataFrame({k: list(v) for k, v in zip(keys, zip(*rows, strict=True), strict=True)}, columns=keys)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return len(dumps({"data": json_records(frame)}))


NAIVE_PRICES = ("SELECT time, exchange, symbol, open, high, low, close, volume FROM prices WHERE exchange = :e "
                "AND symbol = ANY(:s) AND timeframe = '1m' AND price_kind = 'last' AND time >= :a AND time < :b "
                "ORDER BY exchange, symbol, time")  # fmt: skip
NAIVE_FUNDING = ("SELECT time, exchange, symbol, settled, funding_rate, funding_interval_hours FROM funding_rates "
                 "WHERE exchange = :e AND symbol = ANY(:s) AND time >= :a AND time < :b "
                 "ORDER BY exchange, symbol, settled, time")  # fmt: skip


class RangeCases:
    """The measured cases of one range: each method returns its response size (bytes, or rows for ``db``)."""

    def __init__(self, engine: Engine, client, symbols: list[str], start, end) -> None:
        self.engine, self.client, self.symbols, self.start, self.end = engine, client, symbols, start, end
        self.bucket = queries.choose_bucket(start, end)
        plain = ",".join(s.split(":")[0] for s in symbols)
        self.args = f"exchange={EXCHANGE}&symbols={plain}&start={_iso(start)}&end={_iso(end)}"

    def api(self, path: str) -> int:
        response = self.client.get(f"{path}?{self.args}", headers=BROWSER)
        assert response.status_code == 200, response.get_data(as_text=True)
        return len(response.get_data())

    def chart(self, kind: str) -> int:
        """The overview callback's work for one chart: queries + UI's figure builder + Plotly JSON, compressed."""
        sel = ([EXCHANGE], self.symbols, self.start, self.end)
        with self.engine.connect() as conn:  # as app/pages/overview.py: strongest markers + counted totals
            counts = queries.anomaly_counts(conn, *sel)
            if kind == "funding":
                frame = queries.funding_series(conn, *sel, self.bucket)
                marks = queries.anomaly_rows(conn, *sel, metrics=["funding_rate"], limit=MAX_MARKERS, strongest=True)
                total = int(counts.loc[counts["metric"] == "funding_rate", "anomalies"].sum())
                fig = funding_figure(frame, "interval", self.bucket, "bench", marks, total)
            else:
                frame = queries.price_series(conn, *sel, self.bucket)
                marks = queries.anomaly_rows(conn, *sel, limit=MAX_MARKERS, strongest=True)
                fig = price_figure(frame, self.bucket, "bench", marks, int(counts["anomalies"].sum()))
        # Serialised as Dash serialises a callback's output (dash._utils.to_json: plotly's JSON encoder, no figure
        # validation), compressed as Flask-Compress sends it.
        return len(zstd.compress(to_json_plotly(fig).encode(), 1))

    def naive(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return _naive_json(conn, sql, {"e": EXCHANGE, "s": self.symbols, "a": self.start, "b": self.end})

    def db(self, name: str) -> int:
        sel = ([EXCHANGE], self.symbols, self.start, self.end)
        with self.engine.connect() as conn:
            if name == "latest_snapshot":
                return len(queries.latest_snapshot(conn, [EXCHANGE], self.symbols, self.end))
            if name == "anomaly_rows":
                return len(queries.anomaly_rows(conn, *sel, limit=5000))
            return len(getattr(queries, name)(conn, *sel, self.bucket))

    def cases(self) -> dict[str, Callable[[], int]]:
        return {
            "db price_series (rows)": lambda: self.db("price_series"),
            "db funding_series (rows)": lambda: self.db("funding_series"),
            "db anomaly_rows (rows)": lambda: self.db("anomaly_rows"),
            "db latest_snapshot (rows)": lambda: self.db("latest_snapshot"),
            "api /api/prices": lambda: self.api("/api/prices"),
            "api /api/funding-rates": lambda: self.api("/api/funding-rates"),
            "api /api/anomalies": lambda: self.api("/api/anomalies"),
            "chart funding (query+figure)": lambda: self.chart("funding"),
            "chart prices (query+figure)": lambda: self.chart("prices"),
            "naive raw prices (no bucket)": lambda: self.naive(NAIVE_PRICES),
            "naive raw funding (no bucket)": lambda: self.naive(NAIVE_FUNDING),
        }


def bench_ranges(engine: Engine, url: str, symbols: list[str], end, ranges: list[str] | None = None,
                 only: str | None = None, repeat: int = REPEAT) -> list[dict]:
    """Measure every case (or those whose name contains ``only``) at ``ranges`` (default all of :data:`RANGES`)."""
    client = create_app(with_database(get_settings(), url), with_dashboard=False).test_client()
    gc.freeze()  # as each gunicorn worker does once the app is loaded (gunicorn.conf.py post_worker_init)
    results = []
    for name, span in RANGES.items():
        if ranges and name not in ranges:
            continue
        rc = RangeCases(engine, client, symbols, end - span, end)
        for case, fn in rc.cases().items():
            if only and only not in case:
                continue
            p50, p95, size = measure(fn, 5 if span > timedelta(days=7) and "naive" in case else repeat)
            results.append({"range": name, "bucket": queries.bucket_name(rc.bucket), "case": case, "p50_ms": p50,
                            "p95_ms": p95, "bytes": size})  # fmt: skip
            unit = f"{size:9d} rows" if case.startswith("db ") else f"{size / 1000:9.1f} KB  "
            log(f"  {name:>4} {case:32s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  {unit}")
    for path in ("/api/symbols", "/api/health", "/api/metrics", "/metrics"):
        if (ranges and set(ranges) != set(RANGES)) or (only and only not in f"api {path}"):
            continue
        p50, p95, size = measure(lambda path=path: len(client.get(path, headers=BROWSER).get_data()), repeat)
        results.append({"range": "-", "bucket": "-", "case": f"api {path}", "p50_ms": p50, "p95_ms": p95,
                        "bytes": size})  # fmt: skip
        log(f"     - {'api ' + path:32s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  {size / 1000:9.1f} KB")
    return results


def bench_gunicorn(url: str, symbols: list[str], end) -> dict:
    """Start gunicorn on the benchmark database, exercise pages and API over HTTP, read worker memory."""
    proc, base = start_gunicorn(url, PROJECT_ROOT / "artifacts" / "bench_app_gunicorn.log")
    try:
        plain = ",".join(s.split(":")[0] for s in symbols)
        start = end - RANGES["30d"]
        urls = [f"{base}/", f"{base}/anomalies", f"{base}/system", f"{base}/api/symbols",
                f"{base}/api/prices?symbols={plain}&start={_iso(start)}&end={_iso(end)}",
                f"{base}/api/funding-rates?symbols={plain}&start={_iso(start)}&end={_iso(end)}"]  # fmt: skip
        http = []
        for _ in range(10):
            for u in urls:
                t0 = time.perf_counter()
                urllib.request.urlopen(u, timeout=30).read()
                if "/api/prices" in u:
                    http.append((time.perf_counter() - t0) * 1000)
        workers = psutil.Process(proc.pid).children()
        mem = [w.memory_full_info() for w in workers]
        return {"workers": len(workers), "rss_mb": [m.rss / 1e6 for m in mem], "uss_mb": [m.uss / 1e6 for m in mem],
                "pss_mb": [m.pss / 1e6 for m in mem], "http_prices_30d_p50_ms": statistics.median(http),
                "http_prices_30d_p95_ms": float(np.percentile(http, 95))}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def summary(results: list[dict], served: dict) -> list[str]:
    frame = pd.DataFrame(results)
    lines = ["", "[bench-app] goals (issue 4):"]
    timed = frame[~frame["case"].str.startswith(("naive", "db "))]
    worst = timed.loc[timed["p95_ms"].idxmax()]
    lines.append(f"  worst p95 of chart/API cases: {worst['p95_ms']:.1f} ms ({worst['case']} at {worst['range']}) "
                 f"-> goal <= {GOAL_P95_MS:.0f} ms: {'met' if worst['p95_ms'] <= GOAL_P95_MS else 'NOT met'}")
    month = frame[frame["range"] == "30d"].set_index("case")
    for fast, slow in (("api /api/prices", "naive raw prices (no bucket)"),
                       ("api /api/funding-rates", "naive raw funding (no bucket)"),
                       ("chart prices (query+figure)", "naive raw prices (no bucket)")):  # fmt: skip
        ratio = month.loc[slow, "p50_ms"] / month.loc[fast, "p50_ms"]
        lines.append(f"  30d {fast} vs {slow}: {ratio:.1f}x faster (p50) -> goal >= {GOAL_SPEEDUP:.0f}x: "
                     f"{'met' if ratio >= GOAL_SPEEDUP else 'NOT met'}")
    big = timed.loc[timed["bytes"].idxmax()]
    lines.append(f"  largest chart/API response: {big['bytes'] / 1000:.1f} KB ({big['case']} at {big['range']}) -> "
                 f"goal <= {GOAL_BYTES / 1000:.0f} KB: {'met' if big['bytes'] <= GOAL_BYTES else 'NOT met'}")
    charts = timed[timed["case"].str.startswith("chart")]
    lines.append(f"  largest chart figure: {charts['bytes'].max() / 1000:.1f} KB")
    rss = max(served["rss_mb"])
    lines.append(f"  gunicorn: {served['workers']} workers, RSS {', '.join(f'{v:.0f}' for v in served['rss_mb'])} MB "
                 f"(USS {', '.join(f'{v:.0f}' for v in served['uss_mb'])}, PSS "
                 f"{', '.join(f'{v:.0f}' for v in served['pss_mb'])}) -> goal RSS <= {GOAL_RSS_MB:.0f} MB: "
                 f"{'met' if rss <= GOAL_RSS_MB else 'NOT met'}")
    lines.append(f"  over HTTP (gunicorn, 5 symbols, 30 d /api/prices): p50 {served['http_prices_30d_p50_ms']:.1f} ms, "
                 f"p95 {served['http_prices_30d_p95_ms']:.1f} ms")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reload", action="store_true", help="drop and reload the benchmark database")
    parser.add_argument("--ranges", help=f"comma list of ranges to measure (default all: {','.join(RANGES)})")
    parser.add_argument("--only", help="measure only the cases whose name contains this text, e.g. 'chart'")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"timed runs per case (default {REPEAT})")
    parser.add_argument("--no-gunicorn", action="store_true", help="skip the gunicorn part (HTTP, worker RSS)")
    parser.add_argument("--pages-only", action="store_true", help="measure only the page views (bench/page_views)")
    parser.add_argument("--view", help="with --pages-only: only the page views starting with this, e.g. /markets")
    args = parser.parse_args(argv)
    ranges = args.ranges.split(",") if args.ranges else None
    unknown = set(ranges or ()) - set(RANGES)
    if unknown:
        parser.error(f"unknown ranges {sorted(unknown)}; known: {', '.join(RANGES)}")
    url, new = bench_database(args.reload)
    engine = make_engine(url)
    with engine.connect() as conn:
        pairs = queries.known_pairs(conn)
    if new or len([p for p in pairs if p[0] == EXCHANGE]) < 50:
        load(engine)
    sample_storage(engine)
    with engine.connect() as conn:
        pairs = [p for p in queries.known_pairs(conn) if p[0] == EXCHANGE]
        rows = conn.execute(text("SELECT count(*) FROM prices WHERE timeframe = '1m'")).scalar()
        symbols = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "BNB/USDT:USDT", "XRP/USDT:USDT"]
        end = conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m' AND symbol = ANY(:s)"),
                           {"s": symbols}).scalar() + timedelta(minutes=1)  # fmt: skip
    log(f"[bench-app] {len(pairs)} {EXCHANGE} symbols (5 recorded + derived), {rows:,} one-minute candles; "
        f"5 recorded symbols measured, ranges ending {_iso(end)}; {args.repeat} runs each (naive 30 d: 5)")
    pages = page_views.bench_pages(url, end, args.repeat, log, args.view) if not (ranges or args.only) else []
    if args.pages_only:
        for line in page_views.summary(pages):
            log(line)
        return
    results = bench_ranges(engine, url, symbols, end, ranges, args.only, args.repeat)
    if ranges or args.only or args.no_gunicorn:  # a partial run: figures only, no goal summary
        engine.dispose()
        return
    served = bench_gunicorn(url, symbols, end)
    lines = summary(results, served) + page_views.summary(pages)
    for line in lines:
        log(line)
    out = PROJECT_ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    pd.DataFrame(results).to_csv(out / "bench_app.csv", index=False)
    pd.DataFrame(pages).to_csv(out / "bench_app_pages.csv", index=False)
    Path(out / "bench_app_summary.txt").write_text("\n".join(lines) + "\n")
    log(f"[bench-app] figures saved to {out / 'bench_app.csv'} and bench_app_summary.txt")
    engine.dispose()


if __name__ == "__main__":
    main()
