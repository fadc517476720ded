"""``python -m ingest check-exchanges`` (what ``make run`` prints at start-up): one line per configured exchange
that cannot be reached, nothing for one that answers. Real ccxt clients over HTTP: the local fake exchange, and a
port nobody listens on."""

from __future__ import annotations

import os
import subprocess
import sys

from settings import PROJECT_ROOT
from tests.web_helpers import free_port


def _check(base_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ALPHAPULSE_EXCHANGE_BASE_URL": base_url, "ALPHAPULSE_EXCHANGES": "binanceusdm,bybit,okx"}
    return subprocess.run([sys.executable, "-m", "ingest", "check-exchanges"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_reachable_exchanges_print_nothing(fake_exchange):
    done = _check(fake_exchange.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_each_unreachable_exchange_gets_one_line():
    done = _check(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["binanceusdm", "bybit", "okx"]
    assert all(" unreachable (" in line and "pages show the data stored so far" in line for line in lines)
