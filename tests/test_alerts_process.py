"""``python -m alerts run`` as a process, as the alerts role: the real loop notifies a local JSON webhook through
apprise, and SIGTERM stops it gracefully (exit 0 within 10 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from db.alerts import create_rule, validate_rule
from settings import PROJECT_ROOT
from tests.alert_helpers import Receiver, funding_row, write_funding_rows
from tests.conftest import role_url


def test_the_worker_notifies_and_stops_on_sigterm(clean_db, ingest_engine, db_url):
    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules, alert_states, alert_deliveries, alert_events"))
        create_rule(conn, validate_rule({"name": "ETH funding hot", "kind": "funding_above",
                                         "params": {"level_pct_per_year": 10.0}, "symbols": ["ETH"]}))
    write_funding_rows(ingest_engine, [funding_row(datetime.now(UTC) - timedelta(minutes=1), "okx",
                                                   "ETH/USDT:USDT", 0.0004)])
    receiver = Receiver()
    env = {**os.environ, "DATABASE_URL": db_url, "DATABASE_ALERTS_URL": role_url(db_url, "alerts"),
           "ALPHAPULSE_ALERT_EVAL_SECONDS": "1", "ALPHAPULSE_ALERT_CHANNELS": f"hook={receiver.url}"}
    proc = subprocess.Popen([sys.executable, "-m", "alerts", "run"], cwd=PROJECT_ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not receiver.posts and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.close()
    log = proc.stderr.read()
    assert [p["title"] for _, p in receiver.posts] == ["[warning] FIRING: ETH funding hot — ETH/USDT · okx"], log
    assert status == 0 and elapsed < 10, log
    assert "alerts worker stopped" in log and "Traceback" not in log
