"""``make bench-alerts``: speed of the alerts worker (prints figures; not a test).

1. Cycle time: 500 rules (every kind, varied levels, scope = every pair) over every pair in the database, evaluated
   at the newest stored data time; seconds per cycle, p50 and max over :data:`CYCLES` cycles.
2. Latency: the real loop (:meth:`alerts.evaluator.Evaluator.run`, default cadence ``ALPHAPULSE_ALERT_EVAL_SECONDS``)
   with its delivery thread, one rule on a bench-only pair; at a random phase of the cycle a funding row is written
   (through ``db.writes``) that makes it fire, or resolve, and the time until the notification reaches a local
   JSON webhook is measured; p50/p95 over :data:`SAMPLES` samples. Goal: p95 ≤ cadence + 2 s.

Load the bundled data first (``python -m ingest load-recorded``). The bench's rules, pair and events are removed
at the end.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import text

from alerts.evaluator import Evaluator
from db.alerts import create_rule, validate_rule
from db.engine import make_engine
from settings import get_settings
from tests.alert_helpers import Receiver, funding_row, write_funding_rows

CYCLES = 10
SAMPLES = int(os.environ.get("BENCH_ALERTS_SAMPLES", "20"))
PREFIX = "bench-alerts"
PAIR = ("benchalerts", "ALRT/USDT:USDT")
TEMPLATES = [
    ("funding_above", {"level_pct_per_year": 20.0}), ("funding_below", {"level_pct_per_year": -5.0}),
    ("funding_spread", {"level_pct_per_year": 10.0}), ("anomaly_z", {"metric": "log_return_1m", "min_abs_z": 8.0}),
    ("price_change", {"window_minutes": 15, "pct": 1.0}), ("premium", {"level_bp": 10.0}),
    ("feed_stale", {"multiple": 3.0}),
]


def _rules(n: int) -> list[dict]:
    """``n`` rules cycling over the kinds; levels and windows vary so each rule is its own."""
    out = []
    for i in range(n):
        kind, params = TEMPLATES[i % len(TEMPLATES)]
        scale = 1 + (i // len(TEMPLATES)) / 10
        varied = {k: _scaled(k, v, scale) for k, v in params.items()}
        out.append({"name": f"{PREFIX} {i}", "kind": kind, "params": varied})
    return out


def _scaled(key: str, value, scale: float):
    if isinstance(value, str):
        return value
    if key == "window_minutes":
        return min(int(value * scale), 1440)
    return value * scale


def cleanup(owner) -> None:
    """Remove the bench's rules, their states, events and deliveries, and the bench pair's rows."""
    with owner.begin() as conn:
        ids = list(conn.execute(text("SELECT id FROM alert_rules WHERE name LIKE :p"), {"p": PREFIX + "%"}).scalars())
        for table in ("alert_deliveries WHERE event_id IN (SELECT id FROM alert_events WHERE rule_id = ANY(:i))",
                      "alert_events WHERE rule_id = ANY(:i)", "alert_states WHERE rule_id = ANY(:i)",
                      "alert_rules WHERE id = ANY(:i)"):
            conn.execute(text(f"DELETE FROM {table}"), {"i": ids})
        for table in ("funding_rates_1h", "funding_rates_15m", "funding_rates", "pair_extents"):
            conn.execute(text(f"DELETE FROM {table} WHERE exchange = :e"), {"e": PAIR[0]})


def cycle_times(owner, alerts, settings) -> None:
    """Part 1 (module docstring)."""
    with owner.begin() as conn:
        newest = conn.execute(text("SELECT max(time) FROM funding_rates")).scalar()
        pairs = conn.execute(text("SELECT count(DISTINCT (exchange, symbol)) FROM pair_extents")).scalar()
    if newest is None:
        print("cycle: no funding rows: load the bundled data first (python -m ingest load-recorded)")
        return
    with owner.begin() as conn:
        for raw in _rules(500):
            create_rule(conn, validate_rule(raw))
    try:
        evaluator = Evaluator(alerts, replace(settings, alert_channels=""))
        results = [evaluator.run_cycle(newest) for _ in range(CYCLES)]
    finally:
        cleanup(owner)  # the latency part must run with its one rule only
    seconds = [r.seconds for r in results]
    print(f"cycle: 500 rules over {pairs} pairs, {results[-1].subjects} subjects at {newest:%Y-%m-%d %H:%M} UTC: "
          f"p50 {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s over {CYCLES} cycles (goal ≤ 1 s)")


def latency(owner, ingest, alerts, settings) -> None:
    """Part 2 (module docstring)."""
    receiver = Receiver()
    with owner.begin() as conn:
        create_rule(conn, validate_rule({"name": f"{PREFIX} latency", "kind": "funding_above",
                                         "params": {"level_pct_per_year": 50.0}, "exchanges": [PAIR[0]]}))
    evaluator = Evaluator(alerts, replace(settings, alert_channels=f"bench={receiver.url}", alert_default_channels=()))
    stop = threading.Event()
    loop = threading.Thread(target=evaluator.run, args=(stop,), daemon=True)
    loop.start()
    waits = []
    try:
        for n in range(SAMPLES):
            rate = 0.001 if n % 2 == 0 else 0.00001  # 109.5 % / 1.1 % per year on 8 h: fires, then resolves
            time.sleep(random.uniform(0, settings.alert_eval_seconds))  # rows arrive at any phase of the cycle
            seen = len(receiver.posts)
            written = time.monotonic()
            write_funding_rows(ingest, [funding_row(datetime.now(UTC), *PAIR, rate)])
            while len(receiver.posts) == seen and time.monotonic() - written < 3 * settings.alert_eval_seconds:
                time.sleep(0.02)
            if len(receiver.posts) > seen:
                waits.append(receiver.posts[seen][0] - written)
    finally:
        stop.set()
        loop.join(timeout=30)
        receiver.close()
    p95 = statistics.quantiles(waits, n=20)[-1] if len(waits) > 1 else float("nan")
    print(f"row written -> notification received (cadence {settings.alert_eval_seconds:g} s): "
          f"p50 {statistics.median(waits):.2f} s, p95 {p95:.2f} s over {len(waits)} of {SAMPLES} samples "
          f"(goal p95 ≤ {settings.alert_eval_seconds + 2:g} s)")


def main() -> None:
    """Run both parts (module docstring)."""
    settings = get_settings()
    owner = make_engine(settings.effective_database_url)
    alerts = make_engine(settings.database_url_for("alerts"))
    ingest = make_engine(settings.database_url_for("ingest"))
    try:
        cleanup(owner)
        cycle_times(owner, alerts, settings)
        latency(owner, ingest, alerts, settings)
    finally:
        cleanup(owner)
        for engine in (owner, alerts, ingest):
            engine.dispose()


if __name__ == "__main__":
    main()
