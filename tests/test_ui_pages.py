"""Browser tests of the Dash pages: dash.testing's ``dash_duo`` drives Debian's headless Chromium
(options from ``pytest_setup_options`` in conftest) against the app built on the database holding the
bundled real history (``recorded_db_url``). Expected values are read back with independent SQL.

Screenshots of every page at laptop and phone width go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from dash.testing.wait import until
from plotly.offline import get_plotlyjs_version
from selenium.webdriver.common.by import By
from sqlalchemy import text

from tests.ui_helpers import GRID_JS, VIEW_7D, chart_traces, no_console_errors, open_page, pick, screenshot

pytestmark = pytest.mark.browser

#: A 7-day view inside the bundled 1-minute klines and funding history (2025-05-25 -> 2025-06-24).
END = datetime(2025, 6, 20, tzinfo=UTC)

def _last_value(values: list) -> float:
    return next(v for v in reversed(values) if v is not None)


def _settled_rate_before(engine, symbol: str, end: datetime) -> float:
    sql = text(
        "SELECT funding_rate FROM funding_rates WHERE exchange = 'binanceusdm' AND symbol = :s AND settled "
        "AND time < :end ORDER BY time DESC LIMIT 1"
    )
    with engine.connect() as conn:
        return conn.execute(sql, {"s": symbol, "end": end}).scalar_one()


def test_overview_without_live_data_opens_on_the_newest_period_with_funding_and_candles(
    ui, recorded_engine, artifacts_dir
):
    """The first view ("last 24 h" of now, while only bundled history exists) shows the newest 24 h in which
    funding and candles both have data, and says so; "Stay" anchors the link there, "Back to now" returns to the
    live (empty) window, which shows the same fallback (issue 11, item 2: the jump used to land where only funding
    existed, the price panel empty)."""
    open_page(ui, "/")
    with recorded_engine.connect() as conn:
        newest = conn.execute(text(
            "SELECT least((SELECT max(time) FROM funding_rates WHERE exchange = 'binanceusdm' AND symbol = ANY(:s)),"
            " (SELECT max(time) FROM prices WHERE exchange = 'binanceusdm' AND symbol = ANY(:s)))"
        ), {"s": ["BTC/USDT:USDT", "ETH/USDT:USDT"]}).scalar_one()  # fmt: skip
    anchor = newest.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    notice = ui.wait_for_element("#overview-empty-text", timeout=15)
    until(lambda: f"with funding and candles instead, up to {anchor:%Y-%m-%d %H:%M} UTC" in notice.text, timeout=15)
    assert chart_traces(ui, "overview-funding-chart"), "no funding traces in the fallback period"
    assert chart_traces(ui, "overview-price-chart"), "no candles in the fallback period"
    assert "end=" not in ui.driver.current_url  # still the live view: it returns to live data by itself
    no_console_errors(ui)
    screenshot(ui, artifacts_dir, "overview_fallback")

    ui.find_element("#overview-jump").click()  # "Stay on the 24 h up to …"
    until(lambda: "end=" in ui.driver.current_url, timeout=10)
    query = parse_qs(urlsplit(ui.driver.current_url).query)
    assert datetime.fromisoformat(query["end"][0].replace("Z", "+00:00")) == anchor
    until(lambda: not ui.driver.find_elements(By.CSS_SELECTOR, "#overview-empty"), timeout=10)  # notice closed
    no_console_errors(ui)

    ui.find_element("#overview-live").click()  # "Back to now": live again, so the fallback again
    until(lambda: "end=" not in ui.driver.current_url, timeout=10)
    until(lambda: "live feeds are down" in ui.find_element("#overview-empty-text").text, timeout=15)


def test_two_symbols_show_two_funding_traces_ending_at_database_values(ui, recorded_engine, artifacts_dir):
    """Start with BTC only, add ETH in the symbol picker: two settled funding traces whose last points are the
    last settled rates before the range end in the database (in % per interval)."""
    open_page(ui, "/?symbols=BTC/USDT&exchange=binanceusdm&range=7d&end=2025-06-20T00:00Z")
    assert len(chart_traces(ui, "overview-funding-chart")) == 1
    pick(ui, "#overview-symbols", "ETH/USDT")
    traces = until(lambda: (t := chart_traces(ui, "overview-funding-chart")) and len(t) == 2 and t, timeout=15)
    by_symbol = {t["meta"]["symbol"]: t for t in traces}
    assert set(by_symbol) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for symbol, trace in by_symbol.items():
        assert trace["meta"]["settled"] is True
        expected = _settled_rate_before(recorded_engine, symbol, END) * 100
        assert _last_value(trace["y"]) == pytest.approx(expected, rel=1e-12)
    no_console_errors(ui)
    screenshot(ui, artifacts_dir, "overview")


def test_charts_draw_with_the_served_plotly_bundle(ui):
    """The plotly.js bundle served from the installed plotly package draws the charts (candlesticks of one symbol
    included; heatmaps are checked on the Markets page), it is the plotly.js version that package was built for,
    it is fetched once, and browsers may keep it without asking again."""
    open_page(ui, "/?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z")
    assert {t["type"] for t in chart_traces(ui, "overview-price-chart")} >= {"candlestick"}
    assert ui.driver.execute_script("return window.Plotly.version") == get_plotlyjs_version()
    fetched = ui.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    bundles = [url for url in fetched if "plotly" in url and url.endswith(".js") and "plotly_loader" not in url]
    assert [urlsplit(url).path for url in bundles] == [f"/assets/vendor/plotly-{get_plotlyjs_version()}.min.js"]
    assert "immutable" in requests.get(bundles[0], timeout=10).headers["Cache-Control"]
    no_console_errors(ui)


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
    open_page(ui, "/" + VIEW_7D)
    week = chart_traces(ui, "overview-price-chart")
    btc = next(t for t in week if t["meta"]["symbol"] == "BTC/USDT:USDT")
    n_week = sum(v is not None for v in btc["y"])
    assert n_week == _bucket_count(recorded_engine, "BTC/USDT:USDT", END - timedelta(days=7), END, "15 minutes")

    ui.find_element("label[for='_dbcprivate_radioitems_overview-range_input_24h']").click()
    until(lambda: "1 min buckets" in ui.find_element("#overview-window").text, timeout=15)

    def day_points():
        trace = next(t for t in chart_traces(ui, "overview-price-chart") if t["meta"]["symbol"] == "BTC/USDT:USDT")
        n = sum(v is not None for v in trace["y"])
        return n if n != n_week else None

    n_day = until(day_points, timeout=15)
    assert n_day == _bucket_count(recorded_engine, "BTC/USDT:USDT", END - timedelta(days=1), END, "1 minute")
    assert "range=24h" not in ui.driver.current_url  # 24 h is the default and left out of the link
    assert "end=2025-06-20T00:00Z" in ui.driver.current_url


def test_url_reproduces_the_view(ui, dash_duo):
    """Change controls, copy the address, open it fresh: same controls, same funding chart."""
    open_page(ui, "/" + VIEW_7D)
    chart_traces(ui, "overview-funding-chart")
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
    first = chart_traces(ui, "overview-funding-chart")
    link = ui.driver.current_url

    ui.driver.get("about:blank")
    ui.driver.get(link)
    ui.wait_for_element(".ap-controls", timeout=15)
    again = until(lambda: (t := chart_traces(ui, "overview-funding-chart")) and len(t) == len(first) and t, timeout=15)
    assert [(t["name"], t["y"]) for t in again] == [(t["name"], t["y"]) for t in first]
    checked = ui.driver.execute_script(
        "return Array.from(document.querySelectorAll('input.btn-check:checked')).map(e => e.value)"
    )
    assert set(checked) >= {"30d", "annual"}
    assert ui.find_element("#overview-window").text.startswith("2025-05-21 00:00 → 2025-06-20 00:00 UTC")


def test_anomalies_table_lists_the_database_rows(ui, recorded_engine, artifacts_dir):
    """The anomalies grid holds exactly the anomalies of the selection, range and min |z| in the database."""
    open_page(ui, "/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z&min_z=6")
    with recorded_engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT time, metric, method, z_score FROM anomalies WHERE exchange = 'binanceusdm' "
            "AND symbol = 'BTC/USDT:USDT' AND time >= :start AND time < :end AND abs(z_score) >= 6 ORDER BY time DESC"
        ), {"start": END - timedelta(days=1), "end": END}).all()  # fmt: skip
    assert expected, "the recorded day should hold anomalies with |z| >= 6"
    rows = until(lambda: ui.driver.execute_script(GRID_JS, "anomalies-table") or None, timeout=15)
    shown = [(r["time"], r["metric"], r["method"], r["z_score"]) for r in rows]
    wanted = [(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), m, meth, round(z, 2)) for t, m, meth, z in expected]
    assert sorted(shown) == sorted(wanted)
    assert shown == sorted(shown, key=lambda r: r[0], reverse=True)  # newest first
    assert len(ui.driver.find_elements(By.CSS_SELECTOR, "#anomalies-table .ag-row")) > 0
    no_console_errors(ui)
    screenshot(ui, artifacts_dir, "anomalies")


def test_system_page_shows_the_health_status(ui, artifacts_dir):
    """The system page shows the same overall status as /api/health, one row per exchange + stream."""
    open_page(ui, "/system")
    health = requests.get(ui.server_url + "/api/health", timeout=10).json()
    status = ui.wait_for_element(".ap-system-status .ap-status", timeout=15)
    assert status.text == health["status"].upper()
    rows = ui.driver.find_elements(By.CSS_SELECTOR, "#system-feeds tbody tr")
    assert len(rows) == len(health["feeds"])
    chart_traces(ui, "system-lag")
    no_console_errors(ui)
    screenshot(ui, artifacts_dir, "system")
