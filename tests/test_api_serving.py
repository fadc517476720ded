"""gunicorn serves the app with gunicorn.conf.py: dashboard and API over real HTTP, access log (with request time)
in its own file instead of the terminal."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from app import create_app, with_database
from settings import get_settings
from tests.web_helpers import gunicorn


@pytest.fixture(scope="module")
def served(recorded_db_url, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with gunicorn({"DATABASE_URL": recorded_db_url}, log_path) as base:
        yield base, log_path


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
    log, access = log_path.read_text(), log_path.with_suffix(".access.log").read_text()
    assert "dashboard ready: http://127.0.0.1:" in log and "GET /api/symbols" not in log
    assert any('"GET /api/symbols HTTP/1.1" 200' in line and "ms (" in line for line in access.splitlines())
