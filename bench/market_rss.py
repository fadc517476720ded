"""Worker RSS of ``make bench-market``: ``python -m ingest run`` with ``ALPHAPULSE_FUNDING_UNIVERSE=all`` against the
fake exchange (``python -m tests.fake_exchange``) serving every Binance USD-M symbol it can (471 from the
recorded premiumIndex snapshot and exchangeInfo) plus its Bybit, OKX and Hyperliquid markets, writing into the
bench's scratch database. Prints the worker's RSS (psutil, MB = 2^20 bytes) each minute and at the end (goal
≤ 150 MB), and how many pairs' current funding it stored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import psutil
from sqlalchemy import text

from db.engine import make_engine
from settings import PROJECT_ROOT

#: Binance symbols the fake exchange can serve (``RecordedStore._pick_bases`` raises above this).
FAKE_SYMBOLS = 471
EXCHANGES = "binanceusdm,bybit,okx,hyperliquid"


def bench_rss(db_url: str, minutes: float, window: tuple[datetime, datetime]) -> None:
    """Run the worker for ``minutes`` against the fake exchange and print its RSS (module docstring); pairs
    counted by their predicted rows outside the bench's data ``window`` (UTC)."""
    fake = subprocess.Popen([sys.executable, "-m", "tests.fake_exchange", "--symbols", str(FAKE_SYMBOLS),
                             "--running"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    worker = None
    try:
        url = re.search(r"(http://\S+)", fake.stdout.readline()).group(1)
        days = (datetime.now(UTC) - datetime(2025, 6, 16, tzinfo=UTC)).days + 1
        env = {**os.environ, "DATABASE_URL": db_url, "ALPHAPULSE_EXCHANGE_BASE_URL": url,
               "ALPHAPULSE_EXCHANGES": EXCHANGES, "ALPHAPULSE_SYMBOLS": "BTC,ETH,SOL",
               "ALPHAPULSE_FUNDING_UNIVERSE": "all", "ALPHAPULSE_BACKFILL_DAYS": str(days),
               "ALPHAPULSE_LOG_LEVEL": "WARNING"}  # fmt: skip
        worker = subprocess.Popen([sys.executable, "-m", "ingest", "run"], cwd=PROJECT_ROOT, env=env,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        proc, peak, rss, started = psutil.Process(worker.pid), 0, 0, time.monotonic()
        while time.monotonic() - started < minutes * 60 and worker.poll() is None:
            time.sleep(min(60.0, minutes * 60))
            rss = proc.memory_info().rss
            peak = max(peak, rss)
            print(f"  after {(time.monotonic() - started) / 60:.1f} min: worker RSS {rss / 2**20:.1f} MB", flush=True)
        engine = make_engine(db_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT exchange, count(DISTINCT symbol) FROM funding_rates WHERE NOT settled "
                                       "AND NOT (time >= :a AND time < :b) GROUP BY exchange ORDER BY exchange"),
                                  {"a": window[0], "b": window[1]}).all()  # fmt: skip
        engine.dispose()
        print(f"worker RSS after {minutes:g} min, funding universe 'all' on {EXCHANGES}: {rss / 2**20:.1f} MB "
              f"(peak {peak / 2**20:.1f} MB; goal <= 150 MB); current funding stored for "
              + ", ".join(f"{n} {e}" for e, n in stored), flush=True)
    finally:
        for p in (worker, fake):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=15)
