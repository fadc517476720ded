"""Browser tests of the Dash pages: dash.testing's ``dash_duo`` drives Debian's headless Chromium
(options from ``pytest_setup_options`` in conftest) against the app built on the database holding the
bundled real history (``recorded_db_url``). Expected values are read back with independent SQL.

Screenshots of every page at laptop and phone width go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import flask
import pandas as pd
import pytest
import requests
from dash.testing.wait import until
from plotly.offline import get_plotlyjs_version
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sqlalchemy import text

from app import create_app, with_database
from app.dashboard import build_dash
from db.writes.extents import rebuild_extents
from ingest.recorded import read_klines_1m
from settings import get_settings

pytestmark = pytest.mark.browser

LAPTOP, PHONE = (1366, 900), (390, 844)

#: A 7-day view inside the bundled 1-minute klines and funding history (2025-05-25 -> 2025-06-24).
END = datetime(2025, 6, 20, tzinfo=UTC)
VIEW_7D = "?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=7d&end=2025-06-20T00:00Z"

_TRACES_JS = """
const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!el || !el._fullData) { return null; }
const arr = v => (v ? Array.from(v, x => (typeof x === 'number' && isNaN(x) ? null : x)) : []);
return el._fullData.map(t => ({name: t.name || '', type: t.type, meta: t.meta || null,
                               x: arr(t.x), y: arr(t.y), close: arr(t.close)}));
"""

_GRID_JS = """
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
    settings = with_database(get_settings(), recorded_db_url)
    server = create_app(settings, with_dashboard=False)
    in_flight = _count_requests(server)
    # Dash dev tools validate the layout in the browser (duplicate ids, wrong prop types, callback errors) and
    # show the count in a badge that _no_console_errors checks; no reloader or hot reload in tests.
    dash_duo.start_server(build_dash(server, settings), debug=True, use_reloader=False, dev_tools_hot_reload=False)
    dash_duo.driver.set_window_size(*LAPTOP)
    yield dash_duo
    dash_duo.driver.get("about:blank")
    until(lambda: in_flight() == 0, timeout=10)


def _count_requests(server) -> Callable[[], int]:
    """Track the threads serving a request of ``server`` (a Flask app); returns a function counting them."""
    serving: set[int] = set()
    # Flask's signals, sent for every request even when a before_request hook answers it (the rate limiter); the
    # tear-down one may come twice for a request (streamed responses), hence a set of threads and not a counter.
    flask.request_started.connect(lambda _app, **_: serving.add(threading.get_ident()), server, weak=False)
    flask.request_tearing_down.connect(lambda _app, **_: serving.discard(threading.get_ident()), server, weak=False)
    return lambda: len(serving)


def _open(ui, path: str) -> None:
    ui.driver.get(ui.server_url + path)
    ui.wait_for_element(".ap-controls", timeout=15)


def _traces(ui, graph_id: str, kind: str | None = None, timeout: float = 15) -> list[dict]:
    """Traces of a dcc.Graph once it holds data traces (optionally only those with ``meta.settled`` kinds)."""

    def ready():
        traces = ui.driver.execute_script(_TRACES_JS, graph_id)
        return [t for t in traces or [] if t["name"] != "anomaly" and not t["name"].startswith("anomalies")] or None

    return until(ready, timeout=timeout)


def _pick(ui, dropdown: str, label: str) -> None:
    """Choose option ``label`` in a multi-select dropdown, retrying until the page has filled the options in
    (they load after the first draw)."""

    def attempt():
        ui.select_dcc_dropdown(dropdown, value=label)
        ActionChains(ui.driver).send_keys(Keys.ESCAPE).perform()  # close the menu
        return label in ui.find_element(dropdown).text

    until(attempt, timeout=15, poll=0.5)


def _last_value(values: list) -> float:
    return next(v for v in reversed(values) if v is not None)


def _settled_rate_before(engine, symbol: str, end: datetime) -> float:
    sql = text(
        "SELECT funding_rate FROM funding_rates WHERE exchange = 'binanceusdm' AND symbol = :s AND settled "
        "AND time < :end ORDER BY time DESC LIMIT 1"
    )
    with engine.connect() as conn:
        return conn.execute(sql, {"s": symbol, "end": end}).scalar_one()


def _no_console_errors(ui) -> None:
    """No SEVERE browser console entry and no error in Dash's dev-tools badge."""
    errors = [e for e in ui.get_logs() or [] if e.get("level") == "SEVERE"]
    assert errors == [], errors
    assert ui.driver.find_elements(By.CSS_SELECTOR, ".test-devtools-error-count") == []


def _screenshot(ui, artifacts_dir, name: str) -> None:
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


def test_overview_without_live_data_opens_on_the_newest_period_with_funding_and_candles(
    ui, recorded_engine, artifacts_dir
):
    """The first view ("last 24 h" of now, while only bundled history exists) shows the newest 24 h in which
    funding and candles both have data, and says so; "Stay" anchors the link there, "Back to now" returns to the
    live (empty) window, which shows the same fallback (issue 11, item 2: the jump used to land where only funding
    existed, the price panel empty)."""
    _open(ui, "/")
    with recorded_engine.connect() as conn:
        newest = conn.execute(text(
            "SELECT least((SELECT max(time) FROM funding_rates WHERE exchange = 'binanceusdm' AND symbol = ANY(:s)),"
            " (SELECT max(time) FROM prices WHERE exchange = 'binanceusdm' AND symbol = ANY(:s)))"
        ), {"s": ["BTC/USDT:USDT", "ETH/USDT:USDT"]}).scalar_one()  # fmt: skip
    anchor = newest.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    notice = ui.wait_for_element("#overview-empty-text", timeout=15)
    until(lambda: f"with funding and candles instead, up to {anchor:%Y-%m-%d %H:%M} UTC" in notice.text, timeout=15)
    assert _traces(ui, "overview-funding-chart"), "no funding traces in the fallback period"
    assert _traces(ui, "overview-price-chart"), "no candles in the fallback period"
    assert "end=" not in ui.driver.current_url  # still the live view: it returns to live data by itself
    _no_console_errors(ui)
    _screenshot(ui, artifacts_dir, "overview_fallback")

    ui.find_element("#overview-jump").click()  # "Stay on the 24 h up to …"
    until(lambda: "end=" in ui.driver.current_url, timeout=10)
    query = parse_qs(urlsplit(ui.driver.current_url).query)
    assert datetime.fromisoformat(query["end"][0].replace("Z", "+00:00")) == anchor
    until(lambda: not ui.driver.find_elements(By.CSS_SELECTOR, "#overview-empty"), timeout=10)  # notice closed
    _no_console_errors(ui)

    ui.find_element("#overview-live").click()  # "Back to now": live again, so the fallback again
    until(lambda: "end=" not in ui.driver.current_url, timeout=10)
    until(lambda: "live feeds are down" in ui.find_element("#overview-empty-text").text, timeout=15)


def test_two_symbols_show_two_funding_traces_ending_at_database_values(ui, recorded_engine, artifacts_dir):
    """Start with BTC only, add ETH in the symbol picker: two settled funding traces whose last points are the
    last settled rates before the range end in the database (in % per interval)."""
    _open(ui, "/?symbols=BTC/USDT&exchange=binanceusdm&range=7d&end=2025-06-20T00:00Z")
    assert len(_traces(ui, "overview-funding-chart")) == 1
    _pick(ui, "#overview-symbols", "ETH/USDT")
    traces = until(lambda: (t := _traces(ui, "overview-funding-chart")) and len(t) == 2 and t, timeout=15)
    by_symbol = {t["meta"]["symbol"]: t for t in traces}
    assert set(by_symbol) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for symbol, trace in by_symbol.items():
        assert trace["meta"]["settled"] is True
        expected = _settled_rate_before(recorded_engine, symbol, END) * 100
        assert _last_value(trace["y"]) == pytest.approx(expected, rel=1e-12)
    _no_console_errors(ui)
    _screenshot(ui, artifacts_dir, "overview")


def test_charts_draw_with_the_served_plotly_bundle(ui):
    """The plotly.js bundle served from the installed plotly package draws the charts (candlesticks of one symbol
    included; heatmaps are checked on the Markets page), it is the plotly.js version that package was built for,
    it is fetched once, and browsers may keep it without asking again."""
    _open(ui, "/?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z")
    assert {t["type"] for t in _traces(ui, "overview-price-chart")} >= {"candlestick"}
    assert ui.driver.execute_script("return window.Plotly.version") == get_plotlyjs_version()
    fetched = ui.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    bundles = [url for url in fetched if "plotly" in url and url.endswith(".js") and "plotly_loader" not in url]
    assert [urlsplit(url).path for url in bundles] == [f"/assets/vendor/plotly-{get_plotlyjs_version()}.min.js"]
    assert "immutable" in requests.get(bundles[0], timeout=10).headers["Cache-Control"]
    _no_console_errors(ui)


def _bucket_count(engine, symbol: str, start: datetime, end: datetime, width: str) -> int:
    sql = text(
        "SELECT count(DISTINCT time_bucket(CAST(:w AS interval), time)) FROM prices WHERE exchange = 'binanceusdm' "
        "AND symbol = :s AND timeframe = '1m' AND price_kind = 'last' AND time >= :start AND time < :end"
    )
    with engine.connect() as conn:
        return conn.execute(sql, {"w": width, "s": symbol, "start": start, "end": end}).scalar_one()


def test_range_change_rebuckets_the_price_chart(ui, recorded_engine):
    """7 d are drawn in 15-minute buckets, 24 h in 1-minute buckets: the point count of each price trace follows
    the number of non-empty buckets in the database."""
    _open(ui, "/" + VIEW_7D)
    week = _traces(ui, "overview-price-chart")
    btc = next(t for t in week if t["meta"]["symbol"] == "BTC/USDT:USDT")
    n_week = sum(v is not None for v in btc["y"])
    assert n_week == _bucket_count(recorded_engine, "BTC/USDT:USDT", END - timedelta(days=7), END, "15 minutes")

    ui.find_element("label[for='_dbcprivate_radioitems_overview-range_input_24h']").click()
    until(lambda: "1 min buckets" in ui.find_element("#overview-window").text, timeout=15)

    def day_points():
        trace = next(t for t in _traces(ui, "overview-price-chart") if t["meta"]["symbol"] == "BTC/USDT:USDT")
        n = sum(v is not None for v in trace["y"])
        return n if n != n_week else None

    n_day = until(day_points, timeout=15)
    assert n_day == _bucket_count(recorded_engine, "BTC/USDT:USDT", END - timedelta(days=1), END, "1 minute")
    assert "range=24h" not in ui.driver.current_url  # 24 h is the default and left out of the link
    assert "end=2025-06-20T00:00Z" in ui.driver.current_url


def test_url_reproduces_the_view(ui, dash_duo):
    """Change controls, copy the address, open it fresh: same controls, same funding chart."""
    _open(ui, "/" + VIEW_7D)
    _traces(ui, "overview-funding-chart")
    ui.find_element("label[for='_dbcprivate_radioitems_overview-funding_input_annual']").click()
    ui.find_element("label[for='_dbcprivate_radioitems_overview-range_input_30d']").click()
    until(lambda: "funding=annual" in ui.driver.current_url and "range=30d" in ui.driver.current_url, timeout=10)
    until(lambda: "30 d" in ui.find_element("#overview-window").text, timeout=15)
    until(
        lambda: (
            "annualised"
            in ui.driver.execute_script(
                "return document.querySelector('#overview-funding-chart .js-plotly-plot').layout.yaxis.title.text"
            )
        ),
        timeout=15,
    )
    first = _traces(ui, "overview-funding-chart")
    link = ui.driver.current_url

    ui.driver.get("about:blank")
    ui.driver.get(link)
    ui.wait_for_element(".ap-controls", timeout=15)
    again = until(lambda: (t := _traces(ui, "overview-funding-chart")) and len(t) == len(first) and t, timeout=15)
    assert [(t["name"], t["y"]) for t in again] == [(t["name"], t["y"]) for t in first]
    checked = ui.driver.execute_script(
        "return Array.from(document.querySelectorAll('input.btn-check:checked')).map(e => e.value)"
    )
    assert set(checked) >= {"30d", "annual"}
    assert ui.find_element("#overview-window").text.startswith("2025-05-21 00:00 → 2025-06-20 00:00 UTC")


def test_anomalies_table_lists_the_database_rows(ui, recorded_engine, artifacts_dir):
    """The anomalies grid holds exactly the anomalies of the selection, range and min |z| in the database."""
    _open(ui, "/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z&min_z=6")
    with recorded_engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT time, metric, method, z_score FROM anomalies WHERE exchange = 'binanceusdm' "
            "AND symbol = 'BTC/USDT:USDT' AND time >= :start AND time < :end AND abs(z_score) >= 6 ORDER BY time DESC"
        ), {"start": END - timedelta(days=1), "end": END}).all()  # fmt: skip
    assert expected, "the recorded day should hold anomalies with |z| >= 6"
    rows = until(lambda: ui.driver.execute_script(_GRID_JS, "anomalies-table") or None, timeout=15)
    shown = [(r["time"], r["metric"], r["method"], r["z_score"]) for r in rows]
    wanted = [(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), m, meth, round(z, 2)) for t, m, meth, z in expected]
    assert sorted(shown) == sorted(wanted)
    assert shown == sorted(shown, key=lambda r: r[0], reverse=True)  # newest first
    assert len(ui.driver.find_elements(By.CSS_SELECTOR, "#anomalies-table .ag-row")) > 0
    _no_console_errors(ui)
    _screenshot(ui, artifacts_dir, "anomalies")


def test_system_page_shows_the_health_status(ui, artifacts_dir):
    """The system page shows the same overall status as /api/health, one row per exchange + stream."""
    _open(ui, "/system")
    health = requests.get(ui.server_url + "/api/health", timeout=10).json()
    status = ui.wait_for_element(".ap-system-status .ap-status", timeout=15)
    assert status.text == health["status"].upper()
    rows = ui.driver.find_elements(By.CSS_SELECTOR, "#system-feeds tbody tr")
    assert len(rows) == len(health["feeds"])
    _traces(ui, "system-lag")
    _no_console_errors(ui)
    _screenshot(ui, artifacts_dir, "system")


_WATCH_JS = """
const el = document.querySelector('#overview-price-chart .js-plotly-plot');
window.__redraws = 0; window.__last = el.data;
window.__watch = setInterval(() => {
  if (el.data !== window.__last) { window.__redraws++; window.__last = el.data; }
}, 100);
"""


def _next_tick(ui) -> None:
    """Wait for the next auto-refresh check (its "last updated" stamp changes every tick) and its answer."""
    stamp = ui.find_element("#overview-updated").text
    until(lambda: ui.find_element("#overview-updated").text != stamp, timeout=12)
    time.sleep(0.5)  # a redraw it asked for would start within this


def _insert_candles(engine, rows: pd.DataFrame) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO prices (time, exchange, symbol, timeframe, price_kind, open, high, low, close, volume) "
            "VALUES (:time, 'binanceusdm', 'BTC/USDT:USDT', '1m', 'last', :open, :high, :low, :close, :volume)"
        ), rows[["time", "open", "high", "low", "close", "volume"]].to_dict("records"))  # fmt: skip
        rebuild_extents(conn)  # rows written around db.writes


def test_auto_refresh_redraws_only_when_new_data_arrives(dash_duo, clean_db, db_url):
    """Live 1 h view refreshing every 5 s: ticks without new rows redraw nothing; one new candle redraws once.

    Data: 30 recorded BTC 1-minute candles (the first of the bundled series) with their times *shifted to end a
    minute before now* — derived data, so that a live range holds them."""
    recorded = read_klines_1m()
    btc = recorded[recorded["symbol"] == "BTC/USDT:USDT"].sort_values("time").head(31).reset_index(drop=True)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    btc["time"] = [now - timedelta(minutes=31 - i) for i in range(len(btc))]
    _insert_candles(clean_db, btc.iloc[:30])
    settings = with_database(get_settings(), db_url)
    dash_duo.start_server(build_dash(create_app(settings, with_dashboard=False), settings))
    dash_duo.driver.get(dash_duo.server_url + "/?symbols=BTC/USDT&exchange=binanceusdm&range=1h&refresh=5")
    before = until(lambda: (t := _traces(dash_duo, "overview-price-chart")) and t, timeout=20)
    dash_duo.driver.execute_script(_WATCH_JS)
    _next_tick(dash_duo)
    _next_tick(dash_duo)
    assert dash_duo.driver.execute_script("return window.__redraws") == 0

    _insert_candles(clean_db, btc.iloc[30:])
    until(lambda: dash_duo.driver.execute_script("return window.__redraws") >= 1, timeout=15)
    after = _traces(dash_duo, "overview-price-chart")
    assert len(after[0]["x"]) == len(before[0]["x"]) + 1
    _next_tick(dash_duo)
    _next_tick(dash_duo)
    assert dash_duo.driver.execute_script("return window.__redraws") == 1
    _no_console_errors(dash_duo)
