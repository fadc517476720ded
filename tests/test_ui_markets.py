"""Browser test of the Markets page (issue 8, items 5–9) in headless Chromium on the bundled cross-venue history
(fixtures of ``tests/ui_helpers.py``): loads without console errors at 1,440 px and on a phone, the cross-venue
table equals SQL on the tables, sorting, the coin link opens the Overview on every venue, the URL round trip of the
page's own parameters, the heatmap and the spread chart draw.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By
from sqlalchemy import text

from db.coins import coin_of
from tests.ui_helpers import GRID_JS, chart_traces, no_console_errors, open_page, screenshot

pytestmark = pytest.mark.browser


END = datetime(2026, 2, 27, tzinfo=UTC)
VIEW = "/markets?symbols=BTC/USDT&range=7d&end=2026-02-27T00:00Z"

#: The newest funding row of each pair at or before the view's end (independent of db.queries.markets).
_LATEST_SQL = """
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, funding_rate * 8760 / funding_interval_hours AS annualised
FROM funding_rates WHERE time <= :end AND time > :end - interval '2 days' AND funding_interval_hours > 0
ORDER BY exchange, symbol, time DESC
"""


def _rows(ui, grid_id: str, shown: bool = False) -> list[dict]:
    if not shown:
        return until(lambda: ui.driver.execute_script(GRID_JS, grid_id) or None, timeout=45)
    return ui.driver.execute_script(
        "const r = []; window.dash_ag_grid.getApi(arguments[0]).forEachNodeAfterFilterAndSort(n => r.push(n.data));"
        " return r;", grid_id)  # fmt: skip


def _click(ui, element) -> None:
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def test_markets_page_shows_sql_values_sorts_and_links_to_the_overview(ui, recorded_engine, artifacts_dir):
    open_page(ui, VIEW)
    rows = _rows(ui, "markets-cross")
    with recorded_engine.connect() as conn:
        latest = conn.execute(text(_LATEST_SQL), {"end": END}).all()
    assert {r["coin"] for r in rows} == {coin_of(s).name for _, s, _ in latest}
    by_coin = {r["coin"]: r for r in rows}
    for exchange, symbol, annualised in latest:
        assert by_coin[coin_of(symbol).name][exchange] == pytest.approx(annualised * 100, abs=1e-3)
    assert chart_traces(ui, "markets-heatmap")  # the heatmap drew, as a heatmap (a bundle without the trace type
    # falls back to a line), with one cell colour per coin and bucket
    drawn = ui.driver.execute_script(
        "const gd = document.querySelector('#markets-heatmap .js-plotly-plot');"
        "return gd._fullData.map(t => t.type).concat([gd.querySelectorAll('.hm image').length]);")
    assert drawn[:-1] == ["heatmap"] and drawn[-1] == 1
    assert chart_traces(ui, "markets-spread")  # the top ranking row's spread history
    assert _rows(ui, "markets-arb") and _rows(ui, "markets-acc")
    no_console_errors(ui)
    screenshot(ui, artifacts_dir, "markets")

    header = ui.driver.find_element(By.CSS_SELECTOR, '#markets-cross .ag-header-cell[col-id="spread_pct"]')
    _click(ui, header.find_element(By.CSS_SELECTOR, ".ag-header-cell-label"))  # ascending
    until(lambda: [r["spread_pct"] for r in _rows(ui, "markets-cross", shown=True)]
          == sorted(r["spread_pct"] for r in rows), timeout=10)  # fmt: skip

    search = ui.find_element("#markets-search")
    search.send_keys("ETH")
    until(lambda: [r["coin"] for r in _rows(ui, "markets-cross", shown=True)] == ["ETH"], timeout=10)

    link = ui.driver.find_element(By.CSS_SELECTOR, "#markets-cross a.ap-coin-link")
    assert link.text == "ETH"
    _click(ui, link)
    until(lambda: urlsplit(ui.driver.current_url).path == "/", timeout=15)
    query = parse_qs(urlsplit(ui.driver.current_url).query)
    expected = {s.split(":")[0] for _, s, _ in latest if coin_of(s).name == "ETH"}
    assert set(query["symbols"][0].split(",")) == expected and len(expected) >= 2  # USDT and Hyperliquid's USDC
    assert query["end"] == ["2026-02-27T00:00Z"] and query["range"] == ["7d"]
    assert chart_traces(ui, "overview-funding-chart", timeout=20)
    no_console_errors(ui)


def test_markets_parameters_round_trip_through_the_url(ui):
    open_page(ui, VIEW)
    rows = _rows(ui, "markets-cross")
    least = sorted(r["oi_value"] for r in rows if r["oi_value"] is not None)[-2]  # keep the two largest
    box = ui.find_element("#markets-minoi")
    box.send_keys(str(int(least)))
    box.send_keys("\n")
    until(lambda: f"min_oi={int(least)}" in ui.driver.current_url, timeout=10)
    link = ui.driver.current_url
    ui.driver.get("about:blank")
    ui.driver.get(link)
    ui.wait_for_element(".ap-controls", timeout=15)
    until(lambda: len(ui.driver.execute_script(GRID_JS, "markets-cross") or []) == 2, timeout=45)
    assert ui.find_element("#markets-minoi").get_attribute("value") == str(int(least))
    assert parse_qs(urlsplit(ui.driver.current_url).query)["min_oi"] == [str(int(least))]
    time.sleep(0.3)
    no_console_errors(ui)


def test_overview_draws_many_funding_series_as_a_heatmap(ui, recorded_engine):
    """15 series (5 coins on Binance, Bybit and OKX) are one heatmap row each on the Overview, not 15 lines."""
    open_page(ui, "/?symbols=BTC/USDT,ETH/USDT,SOL/USDT,DOGE/USDT,HYPE/USDT&range=7d&end=2026-02-27T00:00Z")
    assert chart_traces(ui, "overview-funding-chart", timeout=30)
    drawn = ui.driver.execute_script(
        "const gd = document.querySelector('#overview-funding-chart .js-plotly-plot');"
        "return [gd._fullData.map(t => t.type), gd._fullData[0].y];")
    with recorded_engine.connect() as conn:
        pairs = conn.execute(text(
            "SELECT DISTINCT exchange, symbol FROM funding_rates WHERE symbol LIKE '%/USDT:USDT' "
            "AND time >= :end - interval '7 days' AND time < :end"), {"end": END}).all()
    assert drawn[0] == ["heatmap"]
    assert sorted(drawn[1]) == sorted(f"{s.split(':')[0]} · {e}" for e, s in pairs) and len(pairs) > 10
    assert "heatmap" in ui.find_element("#overview-funding-note").text
    no_console_errors(ui)
