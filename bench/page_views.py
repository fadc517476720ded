"""Server time of every page's views for one user, callback by callback (part of ``make bench-app``; not a test).

Each view is opened the way dash-renderer opens it (``bench.dash_protocol``): the pages callback, the draw (which
stores the baseline fingerprint; a separate baseline callback where a version has one), the picker options (on the
Markets page then the spread chart of the ranking's top row), then one refresh check (the Alerts page: its tables
and the navigation bar's badge), each posted to ``/_dash-update-component`` through Flask's test client (server
time without network), with the page's CSRF
token. A view is measured **cold** (the shared query cache emptied before each opening: what the first analyst on
a view pays) and **warm** (opened again at once: what the next analysts on the same view pay). "open" is the sum of
an opening's callbacks; "cpu" the mean CPU milliseconds an opening cost this process (app: every thread) and the
embedded database server (db), :mod:`bench.cpu_meter`: an opening whose app CPU is about its time is bound by
Python, not by waits on the database.

Views (:data:`VIEWS`): each page's default (no query: the live 24 h, all exchanges, the default symbols), the same
anchored at the end of the benchmark data, and the wider views analysts open (30 d of 5 symbols on every exchange;
on the Markets page every coin of the benchmark data in the cross-venue table, arbitrage ranking, heatmap and
accumulated table, and the 5 coins' premium and open interest charts).
Goal (issue 10): every view of every page <= 50 ms p95 for one user.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import numpy as np
import redis
from sqlalchemy import text

from app import create_app, with_database
from bench.cpu_meter import CpuMeter
from bench.dash_protocol import PREFIX, find, page_callbacks, request_body
from db.engine import make_engine
from settings import get_settings

#: Callbacks of one opening, in the order dash-renderer fires them.
STEPS = ("pages", "draw", "baseline", "options", "spread", "check", "tables", "badge")
#: The Redis database the benchmark's app uses for its cache and limits (emptied before each cold opening).
BENCH_REDIS_DB = 7
GOAL_P95_MS = 50.0


def _at(end: datetime) -> str:
    return f"end={end.strftime('%Y-%m-%dT%H:%MZ')}"


def views(end: datetime, funding_end: datetime) -> list[tuple[str, str]]:
    """(path, query) of the measured views; ``end`` = the end of the benchmark data's candles, ``funding_end`` the
    newest funding time (the recorded cross-venue history ends later than the candles), both aware UTC."""
    at, fat = _at(end), _at(funding_end)
    five = "symbols=BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT,XRP/USDT"
    return [("/", ""), ("/", f"?{at}"), ("/", f"?{five}&range=30d&{at}"), ("/", f"?{five}&range=7d&{at}"),
            ("/anomalies", ""), ("/anomalies", f"?{at}"), ("/anomalies", f"?{five}&range=30d&{at}"),
            ("/system", ""), ("/system", f"?{at}"), ("/system", f"?range=7d&{at}"),
            ("/markets", ""), ("/markets", f"?{fat}"), ("/markets", f"?{five}&range=30d&{fat}"),
            ("/markets", f"?{five}&range=7d&{fat}"), ("/markets", f"?{five}&range=30d&{at}"),
            ("/alerts", "")]  # fmt: skip


class OneUser:
    """One analyst's browser over Flask's test client, timing each callback (milliseconds)."""

    def __init__(self, client, path: str, query: str) -> None:
        self.client, self.path, self.query, self.prefix = client, path, query, PREFIX[path]
        client.get(f"{path}{query}")  # the page HTML: sets the CSRF cookie
        self.deps = page_callbacks(client.get("/_dash-dependencies").get_json(), self.prefix)
        self.times: dict[str, float] = {}

    def _post(self, step: str, inputs: list, state: list | None = None) -> dict:
        dep = self.deps[step]
        body = json.dumps(request_body(dep, inputs, state if state is not None else [None] * len(dep["state"])))
        token = self.client.get_cookie("_csrf_token")
        t0 = time.perf_counter()
        response = self.client.post("/_dash-update-component", data=body, content_type="application/json",
                                    headers={"X-CSRFToken": token.value} if token else {})  # fmt: skip
        self.times[step] = (time.perf_counter() - t0) * 1000
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{self.path}{self.query} {step}: HTTP {response.status_code}")
        return response.get_json().get("response", {}) if response.status_code == 200 else {}

    def open(self) -> dict[str, float]:
        """Open the view and tick once; the milliseconds of each callback and their sum (``open``)."""
        content = self._post("pages", [self.path, self.query])
        if "tables" in self.deps:  # the Alerts page: no draw cycle
            self._post("tables", [0, None])
            self._post("badge", [None])
            return {**self.times, "open": sum(self.times.values())}
        fp, state = find(content, f"{self.prefix}-fp")["data"], find(content, f"{self.prefix}-state")["data"]
        drawn_out = self._post("draw", [fp])
        if "baseline" in self.deps:  # a separate baseline callback (before the draw stored the fingerprint itself)
            drawn_out = {**drawn_out, **self._post("baseline", [fp])}
        drawn = drawn_out.get(f"{self.prefix}-drawn", {}).get("data")
        if "options" in self.deps:
            self._post("options", [drawn])
        if "spread" in self.deps:  # the ranking's rows, as drawn, choose the spread chart's pair (the top row)
            self._post("spread", [None, drawn_out.get(f"{self.prefix}-arb", {}).get("rowData")], [fp])
        self._post("check", [state, 1], [drawn])
        return {**self.times, "open": sum(self.times.values())}


def _pcts(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), float(np.percentile(samples, 95))


def measure_view(
    client, flush: Callable[[], None], path: str, query: str, repeat: int, meter: CpuMeter
) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(times, cpu)`` of ``repeat`` cold and ``repeat`` warm openings of one view (after one warm-up): ``times``
    ``{kind: {step: (p50, p95)}}`` in ms; ``cpu`` ``{kind: {"app": ms, "db": ms}}``, the mean CPU of an opening in
    this process and in the embedded database server (``db`` only when measurable; :mod:`bench.cpu_meter`: it
    counts whole clock ticks of 10 ms, so only a mean over openings is useful)."""
    OneUser(client, path, query).open()
    samples: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    used: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    for _ in range(repeat):
        flush()
        for kind in ("cold", "warm"):
            user = OneUser(client, path, query)
            since = meter.read()
            for step, ms in user.open().items():
                samples[kind].setdefault(step, []).append(ms)
            for part, ms in zip(("app", "db"), meter.spent(since), strict=True):
                if ms is not None:
                    used[kind].setdefault(part, []).append(ms)
    times = {kind: {step: _pcts(v) for step, v in steps.items()} for kind, steps in samples.items()}
    return times, {kind: {part: statistics.fmean(v) for part, v in parts.items()} for kind, parts in used.items()}


def bench_pages(
    url: str, end: datetime, repeat: int, log: Callable[[str], None], only: str | None = None
) -> list[dict]:
    """Measure :func:`views` (those whose path + query starts with ``only`` when given) on the benchmark database
    ``url``; prints a line per view and returns the rows."""
    settings = get_settings()
    base = settings.effective_redis_url
    redis_url = f"{base}{'&' if '?' in base else '?'}db={BENCH_REDIS_DB}"
    app = create_app(replace(with_database(settings, url), redis_url=redis_url))
    gc.freeze()  # as each gunicorn worker does once the app is loaded (gunicorn.conf.py post_worker_init)
    cache = redis.Redis.from_url(redis_url)
    client = app.test_client()
    meter = CpuMeter(settings)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        funding_end = conn.execute(text("SELECT max(time) FROM funding_rates")).scalar()
    engine.dispose()
    rows = []
    log(f"[bench-app] page views, one user, {repeat} cold + {repeat} warm openings each (ms; cold = cache emptied;"
        " cpu = CPU ms per opening of this process (app) and of the database server (db))")
    for path, query in views(end, funding_end):
        if only and not f"{path}{query}".startswith(only):
            continue
        figures, cpu = measure_view(client, cache.flushdb, path, query, repeat, meter)
        for kind, steps in figures.items():
            p95 = {f"{s}_p95_ms": steps[s][1] for s in (*STEPS, "open") if s in steps}
            means = {f"cpu_{part}_mean_ms": ms for part, ms in cpu[kind].items()}
            rows.append({"view": f"{path}{query}", "cache": kind, **p95, "open_p50_ms": steps["open"][0], **means})
            detail = "  ".join(f"{s} {steps[s][1]:.0f}" for s in STEPS if s in steps)
            used = "  ".join(f"{part} {ms:.0f}" for part, ms in cpu[kind].items())
            log(
                f"  {kind:4s} {path + query:60.60s} open p50 {steps['open'][0]:6.1f} p95 {steps['open'][1]:6.1f}"
                f"  | p95 {detail}  | cpu mean {used}"
            )
    return rows


def summary(rows: list[dict]) -> list[str]:
    """Goal lines: the worst p95 opening, cold and warm."""
    lines = []
    for kind in ("cold", "warm"):
        worst = max((r for r in rows if r["cache"] == kind), key=lambda r: r["open_p95_ms"])
        ok = "met" if worst["open_p95_ms"] <= GOAL_P95_MS else "NOT met"
        lines.append(
            f"  page views ({kind} cache): worst p95 opening {worst['open_p95_ms']:.1f} ms ({worst['view']})"
            f" -> goal <= {GOAL_P95_MS:.0f} ms: {ok}"
        )
    return lines
