"""``make bench-ui``: page load to all charts drawn, in headless Chromium, against gunicorn (prints figures).

Not a test: nothing is asserted; the goal of issue 4 (page load to all charts drawn <= 1 s) is printed beside
the figures.

Data: database ``alphapulse_bench_ui`` on the configured server (created once, reused), holding the bundled real
history loaded through INGEST's loader (``ingest.recorded.load_recorded``; quick when already loaded). The app is
served by gunicorn with the project's ``gunicorn.conf.py`` (workers/threads from settings) on a free port.

Measured per page and view, REPEAT loads after WARMUP unmeasured loads (one per gunicorn worker), each from
``about:blank`` (browser cache kept, as a returning analyst's would be): the time from navigation start
(``performance.timeOrigin``) until every ``dcc.Graph`` on the page holds its data (the "Loading…" placeholder has
no traces; a graph counts as drawn when Plotly has rendered traces or a final message) and, on the anomalies page,
the grid holds its rows. Views: the overview with 2 and 5 symbols over 24 h and 30 d, the anomalies page over
7 d, the system page; all anchored at the end of the bundled 1-minute data (2025-06-24). Also COLD_REPEAT loads per
view after emptying the browser's HTTP cache (a first visit: every script downloaded and compiled again). The
1-minute load average is printed beside the figures: the machine may be shared, and figures move with it.
At the end: the RSS of each gunicorn worker after that session of page loads and chart callbacks (goal <= 150 MB).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

import psutil
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from bench.app_data import sample_storage
from bench.servers import migrated_database, start_gunicorn
from db.engine import make_engine
from ingest.recorded import load_recorded
from settings import PROJECT_ROOT, get_settings

DB_NAME = "alphapulse_bench_ui"
#: gunicorn's error log of the run (warnings and tracebacks), and a screenshot of any load that timed out.
LOG = PROJECT_ROOT / "artifacts" / "bench_ui_gunicorn.log"
TIMEOUT_SHOT = PROJECT_ROOT / "artifacts" / "bench_ui_timeout.png"
REPEAT = 7
#: Loads per view with an empty HTTP cache (median printed).
COLD_REPEAT = 3
#: Seconds a page may take to draw before the load counts as failed.
SCRIPT_TIMEOUT = 30
#: Unmeasured loads per view first: one per gunicorn worker, so no measured load pays a worker's first request.
WARMUP = 2
END = "2025-06-24T10:00Z"
VIEWS = {
    "overview 2 symbols 24h": f"/?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&end={END}",
    "overview 2 symbols 30d": f"/?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=30d&end={END}",
    "overview 5 symbols 24h": f"/?symbols=BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT,XRP/USDT&exchange=binanceusdm&end={END}",
    "overview 5 symbols 30d": "/?symbols=BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT,XRP/USDT&exchange=binanceusdm"
    f"&range=30d&end={END}",
    "anomalies 2 symbols 7d": f"/anomalies?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=7d&end={END}",
    "system": f"/system?end={END}",
}

#: Resolves with ms since navigation start once every graph shows data (or a final message) and grids are filled.
_DRAWN_JS = """
const done = arguments[arguments.length - 1];
function drawn() {
  const graphs = Array.from(document.querySelectorAll('.dash-graph'));
  if (!graphs.length) { return false; }
  const ok = graphs.every(g => {
    const p = g.querySelector('.js-plotly-plot');
    if (!p || !p._fullLayout) { return false; }
    const notes = (p._fullLayout.annotations || []).map(a => a.text);
    return (p._fullData && p._fullData.length > 0) || (notes.length && !notes.includes('Loading…'));
  });
  const grids = Array.from(document.querySelectorAll('.ap-grid'));
  const gridsOk = !document.querySelector('#anomalies-table') ||
                  document.querySelectorAll('#anomalies-table .ag-row').length > 0;
  return ok && gridsOk && grids.length >= 0;
}
function poll() { if (drawn()) { done(performance.now()); } else { setTimeout(poll, 10); } }
poll();
"""


def log(message: str) -> None:
    print(f"[bench-ui] {message}", file=sys.stderr, flush=True)


def bench_database() -> str:
    """URL of ``alphapulse_bench_ui`` (created and migrated if missing) with the bundled history loaded and a
    storage sample (``bench.app_data.sample_storage``)."""
    url, _ = migrated_database(DB_NAME)
    engine = make_engine(url)
    started = time.perf_counter()
    load_recorded(engine, get_settings())
    sample_storage(engine)
    engine.dispose()
    log(f"bundled history ready in {DB_NAME} ({time.perf_counter() - started:.1f} s)")
    return url


def browser(width: int = 1366, height: int = 900) -> webdriver.Chrome:
    """Debian's headless Chromium with the same flags as the browser tests."""
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_script_timeout(SCRIPT_TIMEOUT)
    return driver


def load_time_ms(driver: webdriver.Chrome, url: str, cold: bool = False) -> float:
    """Milliseconds from navigation start to every chart drawn (see module docstring); NaN when not drawn within
    the script timeout (a screenshot is saved to ``TIMEOUT_SHOT``). ``cold``: empty the HTTP cache first."""
    driver.get("about:blank")
    if cold:
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get(url)
    try:
        return float(driver.execute_async_script(_DRAWN_JS))
    except TimeoutException:
        driver.save_screenshot(str(TIMEOUT_SHOT))
        log(f"not drawn within {SCRIPT_TIMEOUT} s: {url} (screenshot {TIMEOUT_SHOT.name}, log {LOG.name})")
        return float("nan")


def print_view(name: str, driver: webdriver.Chrome, url: str, repeat: int) -> None:
    """One line of figures for ``url``: p50/p95/max of ``repeat`` warm loads (after ``WARMUP``), the median of
    ``COLD_REPEAT`` loads with an empty HTTP cache, and the 1-minute load average at the end. The cold loads come
    first: Chromium keeps compiled scripts beside their cache entry only from a script's second load on, which
    the warm-up loads then provide."""
    cold = [t for t in (load_time_ms(driver, url, cold=True) for _ in range(COLD_REPEAT)) if not math.isnan(t)]
    for _ in range(WARMUP):
        load_time_ms(driver, url)
    measured = [load_time_ms(driver, url) for _ in range(repeat)]
    times = sorted(t for t in measured if not math.isnan(t))
    failed = len(measured) - len(times)
    load = f"{os.getloadavg()[0]:9.1f}"
    if not times:
        print(f"{name:28} {'timeout':>8} {'':8} {'':8} {'':8} {load}")
        return
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    cold_ms = f"{statistics.median(cold):8.0f}" if cold else f"{'timeout':>8}"
    note = f"  ({failed} not drawn within {SCRIPT_TIMEOUT} s)" if failed else ""
    print(f"{name:28} {statistics.median(times):8.0f} {p95:8.0f} {times[-1]:8.0f} {cold_ms} {load}{note}", flush=True)


def print_worker_memory(proc: subprocess.Popen) -> None:
    """RSS / USS (MB, 10^6 bytes) of each gunicorn worker after the whole session of page loads and chart
    callbacks above (issue 4 goal: worker RSS <= 150 MB)."""
    workers = psutil.Process(proc.pid).children()
    mem = [w.memory_full_info() for w in workers]
    rss = ", ".join(f"{m.rss / 1e6:.0f}" for m in mem)
    uss = ", ".join(f"{m.uss / 1e6:.0f}" for m in mem)
    verdict = "met" if max(m.rss for m in mem) <= 150e6 else "NOT met"
    print(f"gunicorn workers after the session: RSS {rss} MB (USS {uss} MB); goal RSS <= 150 MB: {verdict}")


def main(argv: list[str] | None = None) -> None:
    """Prepare the data, start gunicorn and Chromium, print p50/p95/max load time per view."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=REPEAT, help="measured loads per view (after one warm-up)")
    args = parser.parse_args(argv)
    url = bench_database()
    proc, base = start_gunicorn(url, LOG)
    driver = browser()
    try:
        print(f"page load to all charts drawn, headless Chromium {driver.capabilities.get('browserVersion')}, "
              f"gunicorn ({get_settings().web_workers} workers), {args.repeat} loads after {WARMUP} warm-up loads, "
              f"cold: median of {COLD_REPEAT} loads with an empty HTTP cache; goal <= 1000 ms")
        print(f"{'view':28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cold ms':>8} {'load avg':>9}")
        for name, path in VIEWS.items():
            print_view(name, driver, base + path, args.repeat)
        print_worker_memory(proc)
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
