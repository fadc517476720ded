"""``make bench-load``: simulated analysts (locust, headless) against gunicorn, in steps of users (prints figures).

Not a test: nothing is asserted; the goals of issue 10 are printed beside the figures. Traffic goes to 127.0.0.1
only, bounded in users and time.

Data: database ``alphapulse_bench_ui`` of ``make bench-ui`` (the bundled real history, created once). The app is
served by gunicorn with the project's config (``ALPHAPULSE_WEB_WORKERS`` × ``ALPHAPULSE_WEB_THREADS``, default
2 × 4) on a free port, with the shared Redis cache and limits of ``make run`` (embedded Redis unless ``REDIS_URL``;
a key prefix of this run, so the cache starts cold). Every simulated user comes from 127.0.0.1, so the per-address
limits are raised for the run (they would refuse a single-address crowd). Sign-in is off (loopback).

Users (``bench/load_users.py``) open one of nine views of the four pages (overview, anomalies, system, markets)
as dash-renderer does and then send the refresh check every 10 s; in the ``redraw`` variant every tick also
redraws (new data on every tick). Each step
spawns its users within 20 s (``users / 20`` per second) and runs ``--step-seconds`` (default 180 s). Per step:
requests/s, p50/p95/p99 of callbacks, of page loads (HTML → first draw answered) and of chart redraws, errors, CPU
of both cores split into the load generator (locust), gunicorn workers and the rest (PostgreSQL, Redis…), and each
gunicorn worker's RSS at the end of the step. The machine may be shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from bench.bench_ui import bench_database
from bench.servers import start_gunicorn
from settings import PROJECT_ROOT

ARTIFACTS = PROJECT_ROOT / "artifacts"
LOCUSTFILE = PROJECT_ROOT / "bench" / "load_users.py"
STEPS = (10, 50, 100, 200)
#: Seconds in which a step's users all open their page (the issue: 100 analysts within 20 s).
SPAWN_SECONDS = 20
GOALS = ("goals (quiet machine): callbacks p95 <= 100 ms and 0 errors at 100 users (both variants); "
         "p99 <= 1 s and 0 errors at 200 users redrawing; page load p95 <= 2 s")  # fmt: skip


def log(message: str) -> None:
    print(f"[bench-load] {message}", file=sys.stderr, flush=True)


def start_app(url: str) -> tuple[subprocess.Popen, str]:
    """gunicorn on ``url``'s database (``bench.servers.start_gunicorn``), limits raised, cache cold."""
    return start_gunicorn(url, ARTIFACTS / "bench_load_gunicorn.log", {
        "ALPHAPULSE_API_RATE_LIMIT": "10000000 per minute", "ALPHAPULSE_DASH_RATE_LIMIT": "10000000 per minute",
        "ALPHAPULSE_REDIS_PREFIX": f"bench-load-{uuid.uuid4().hex[:8]}",
        "ALPHAPULSE_ACCESS_LOG": str(ARTIFACTS / "bench_load_access.log")})


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def run_step(base: str, users: int, seconds: int, redraw: bool, gunicorn: subprocess.Popen) -> dict:
    """One locust run of ``users`` for ``seconds``; its stats and the CPU/RSS samples."""
    prefix = ARTIFACTS / f"bench_load_{'redraw' if redraw else 'steady'}_{users}"
    env = {**os.environ, "ALPHAPULSE_BENCH_REDRAW": "1" if redraw else "0", "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base, "-u", str(users),
           "-r", f"{max(users / SPAWN_SECONDS, 0.5):g}", "-t", f"{seconds}s", "--csv", str(prefix), "--only-summary",
           "--stop-timeout", "15", "--loglevel", "WARNING"]  # fmt: skip
    master = psutil.Process(gunicorn.pid)
    web: dict[int, tuple[float, float]] = {}  # pid -> (CPU seconds at first sight, latest); max_requests recycles
    _sample_workers(master, web, initial=True)
    psutil.cpu_percent(percpu=True)
    cpu_start, started = psutil.cpu_times(), time.monotonic()
    with (ARTIFACTS / "bench_load_locust.log").open("a") as out:
        locust = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=out)
        gen = psutil.Process(locust.pid)
        gen_cpu = 0.0
        while locust.poll() is None:
            gen_cpu = max(gen_cpu, _cpu_seconds([gen, *gen.children(recursive=True)]) if gen.is_running() else 0)
            _sample_workers(master, web)
            time.sleep(1)
    elapsed = time.monotonic() - started
    cpu_end = psutil.cpu_times()
    busy = sum(getattr(cpu_end, f) - getattr(cpu_start, f) for f in ("user", "system", "nice", "irq", "softirq"))
    rss = [round(w.memory_info().rss / 2**20) for w in master.children()]
    web_cpu = sum(latest - first for first, latest in web.values())
    return {"users": users, "stats": _read_stats(prefix), "busy": busy / elapsed, "locust": gen_cpu / elapsed,
            "web": web_cpu / elapsed, "rss": rss, "load": os.getloadavg()[0]}  # fmt: skip


def _sample_workers(master: psutil.Process, seen: dict[int, tuple[float, float]], initial: bool = False) -> None:
    """Record each gunicorn worker's CPU seconds (``initial``: the step's start; a worker started during the step
    counts from 0)."""
    for worker in master.children():
        now = _cpu_seconds([worker])
        first = seen[worker.pid][0] if worker.pid in seen else (now if initial else 0.0)
        seen[worker.pid] = (first, now)


def _read_stats(prefix: Path) -> dict[str, dict]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    with path.open() as f:
        return {f"{row['Type']} {row['Name']}": row for row in csv.DictReader(f)}


def _pct(row: dict | None) -> str:
    if not row or not int(row["Request Count"]):
        return "–"
    return "/".join(f"{float(row[q]):.0f}" for q in ("50%", "95%", "99%"))


def print_step(step: dict) -> None:
    stats = step["stats"]
    served = [r for k, r in stats.items() if not k.startswith(("TIMING", "None Aggregated"))]
    rps = sum(float(r["Requests/s"]) for r in served)
    errors = sum(int(r["Failure Count"]) for r in served)
    print(f"| {step['users']} | {rps:.1f} | {_pct(stats.get('POST callback'))} | "
          f"{_pct(stats.get('TIMING page load'))} | {_pct(stats.get('TIMING chart redraw'))} | {errors} | "
          f"{step['busy']:.2f} | {step['locust']:.2f} | {step['web']:.2f} | "
          f"{step['busy'] - step['locust'] - step['web']:.2f} | {', '.join(map(str, step['rss']))} | "
          f"{step['load']:.1f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="users per step, comma-separated")
    parser.add_argument("--step-seconds", type=int, default=180, help="duration of each step (s)")
    parser.add_argument("--variants", default="steady,redraw", help="steady (redraw on new data only), redraw")
    args = parser.parse_args(argv)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench_load_locust.log").unlink(missing_ok=True)
    url = bench_database()
    proc, base = start_app(url)
    log(f"gunicorn at {base}, {os.cpu_count()} cores; steps {args.steps} users × {args.step_seconds} s")
    try:
        for variant in args.variants.split(","):
            print(f"\n{variant}: {'every tick redraws' if variant == 'redraw' else 'ticks redraw only on new data'}"
                  " (times in ms, p50/p95/p99; CPU in cores busy over the step)")  # fmt: skip
            print("| users | req/s | callbacks | page load | chart redraw | errors | CPU all | locust | gunicorn | "
                  "other | worker RSS MB | load avg |")  # fmt: skip
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for users in map(int, args.steps.split(",")):
                print_step(run_step(base, users, args.step_seconds, variant == "redraw", proc))
        print(f"\n{GOALS}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
