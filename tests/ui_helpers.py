"""Browser-test helpers of the Dash pages (a pytest plugin of ``tests/conftest.py``): the ``ui`` fixture —
dash.testing's ``dash_duo`` driving Debian's headless Chromium (options from ``pytest_setup_options`` in conftest)
against the app built on the database holding the bundled real history (``recorded_db_url``) — and what the tests
read from the page (Plotly traces, AG Grid rows, console errors, screenshots at laptop and phone width)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import flask
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app import create_app, with_database
from app.dashboard import build_dash
from settings import get_settings

LAPTOP, PHONE = (1366, 900), (390, 844)
#: A 7-day view of two symbols inside the bundled 1-minute klines and funding history (2025-05-25 -> 2025-06-24).
VIEW_7D = "?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=7d&end=2025-06-20T00:00Z"

TRACES_JS = """
const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!el || !el._fullData) { return null; }
const arr = v => (v ? Array.from(v, x => (typeof x === 'number' && isNaN(x) ? null : x)) : []);
return el._fullData.map(t => ({name: t.name || '', type: t.type, meta: t.meta || null,
                               x: arr(t.x), y: arr(t.y), close: arr(t.close)}));
"""

GRID_JS = """
try {
  const api = window.dash_ag_grid.getApi(arguments[0]);
  const rows = []; api.forEachNode(n => rows.push(n.data)); return rows;
} catch (e) { return null; }
"""


@pytest.fixture
def ui(dash_duo, recorded_db_url):
    """``dash_duo`` serving the dashboard (Flask app of ``create_app`` + ``build_dash``) on the recorded data.

    At teardown the browser leaves the page and the fixture waits (up to 10 s) until no request is being served:
    dash_duo stops its server by raising ``SystemExit`` in every thread the server started, and one raised inside a
    callback's query was reported by pytest as an unhandled thread exception (a teardown error, seen now and then).
    """
    yield from serve_dashboard(dash_duo, with_database(get_settings(), recorded_db_url))


def serve_dashboard(dash_duo, settings) -> Iterator:
    """A fixture's body: ``dash_duo`` serving the dashboard built with ``settings`` at laptop width (yielded), then
    the teardown described in :func:`ui`."""
    server = create_app(settings, with_dashboard=False)
    in_flight = count_requests(server)
    # Dash dev tools validate the layout in the browser (duplicate ids, wrong prop types, callback errors) and
    # show the count in a badge that no_console_errors checks; no reloader or hot reload in tests.
    dash_duo.start_server(build_dash(server, settings), debug=True, use_reloader=False, dev_tools_hot_reload=False)
    dash_duo.driver.set_window_size(*LAPTOP)
    yield dash_duo
    dash_duo.driver.get("about:blank")
    until(lambda: in_flight() == 0, timeout=10)


def count_requests(server) -> Callable[[], int]:
    """Track the threads serving a request of ``server`` (a Flask app); returns a function counting them."""
    serving: set[int] = set()
    # Flask's signals, sent for every request even when a before_request hook answers it (the rate limiter); the
    # tear-down one may come twice for a request (streamed responses), hence a set of threads and not a counter.
    flask.request_started.connect(lambda _app, **_: serving.add(threading.get_ident()), server, weak=False)
    flask.request_tearing_down.connect(lambda _app, **_: serving.discard(threading.get_ident()), server, weak=False)
    return lambda: len(serving)


def open_page(ui, path: str) -> None:
    ui.driver.get(ui.server_url + path)
    ui.wait_for_element(".ap-controls", timeout=15)


def chart_traces(ui, graph_id: str, kind: str | None = None, timeout: float = 15) -> list[dict]:
    """Traces of a dcc.Graph once it holds data traces (optionally only those with ``meta.settled`` kinds)."""

    def ready():
        traces = ui.driver.execute_script(TRACES_JS, graph_id)
        return [t for t in traces or [] if t["name"] != "anomaly" and not t["name"].startswith("anomalies")] or None

    return until(ready, timeout=timeout)


def pick(ui, dropdown: str, label: str) -> None:
    """Choose option ``label`` in a multi-select dropdown, retrying until the page has filled the options in
    (they load after the first draw)."""

    def attempt():
        ui.select_dcc_dropdown(dropdown, value=label)
        ActionChains(ui.driver).send_keys(Keys.ESCAPE).perform()  # close the menu
        return label in ui.find_element(dropdown).text

    until(attempt, timeout=15, poll=0.5)


def no_console_errors(ui) -> None:
    """No SEVERE browser console entry and no error in Dash's dev-tools badge."""
    errors = [e for e in ui.get_logs() or [] if e.get("level") == "SEVERE"]
    assert errors == [], errors
    assert ui.driver.find_elements(By.CSS_SELECTOR, ".test-devtools-error-count") == []


def screenshot(ui, artifacts_dir, name: str) -> None:
    """Full-page captures at laptop and phone width (Dash's dev-tools bar hidden: it is not part of the app)."""
    ui.driver.execute_script(
        "document.querySelectorAll('[class^=\"dash-debug-menu\"]').forEach(e => { e.style.display = 'none'; });"
    )
    for label, (width, height) in (("laptop", LAPTOP), ("phone", PHONE)):
        ui.driver.set_window_size(width, height)
        time.sleep(0.6)  # let Plotly's responsive resize settle before the capture
        full = ui.driver.execute_script("return document.body.scrollHeight")
        ui.driver.set_window_size(width, min(max(full, height), 6000))
        time.sleep(0.4)
        ui.driver.save_screenshot(str(artifacts_dir / f"ui_{name}_{label}.png"))
    ui.driver.set_window_size(*LAPTOP)
