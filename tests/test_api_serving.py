"""gunicorn serves the app with gunicorn.conf.py: dashboard and API over real HTTP, access log (with request time)
in its own file instead of the terminal."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from app import create_app, with_database
from settings import PROJECT_ROOT, get_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(recorded_db_url, tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": recorded_db_url, "ALPHAPULSE_PORT": str(port), "ALPHAPULSE_WEB_WORKERS": "1",
           "ALPHAPULSE_ACCESS_LOG": str(log_path.with_name("access.log"))}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:app"],
                                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/api/symbols", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}") from None
                time.sleep(0.2)
        yield base, log_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_gunicorn_serves_dashboard_and_api(served, recorded_db_url):
    base, log_path = served
    page = urllib.request.urlopen(base + "/", timeout=10)
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    over_http = json.loads(urllib.request.urlopen(base + "/api/symbols", timeout=10).read())
    in_process = create_app(with_database(get_settings(), recorded_db_url), with_dashboard=False)
    assert over_http["data"] == in_process.test_client().get("/api/symbols").get_json()["data"]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/api/health", timeout=10)  # bundled history only: feeds down -> 503
    assert info.value.code == 503 and json.loads(info.value.read())["status"] == "down"
    time.sleep(0.5)
    log, access = log_path.read_text(), log_path.with_name("access.log").read_text()
    assert "dashboard ready: http://127.0.0.1:" in log and "GET /api/symbols" not in log
    assert any('"GET /api/symbols HTTP/1.1" 200' in line and "ms (" in line for line in access.splitlines())
