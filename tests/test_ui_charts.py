"""Browser tests of the charts (issue 11, items 7, 9, 10, 13): headless Chromium on the dashboard over the bundled
history (fixtures of ``tests/ui_helpers.py``). Figures are read from the page (Plotly's ``gd.layout`` /
``gd._fullData`` of each ``dcc.Graph``); expected windows come from the link, colours from the first draw.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from dash.testing.wait import until

from tests.ui_helpers import LAPTOP, PHONE, chart_traces, no_console_errors, open_page, pick

pytestmark = pytest.mark.browser



_FIGURE_JS = """
const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!el || !el._fullData || !el.layout) { return null; }
const arr = v => (v ? Array.from(v, x => (typeof x === 'number' && isNaN(x) ? null : x)) : []);
const title = (el.layout.yaxis || {}).title;
return {range: (el.layout.xaxis || {}).range || null, yTitle: title ? title.text : null,
        traces: el._fullData.filter(t => t.meta).map(t => ({meta: t.meta, colour: t.line ? t.line.color : null,
                                                             y: arr(t.y)}))};
"""

_BOXES_JS = """
const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
return {modebar: el.querySelector('.modebar') ? box(el.querySelector('.modebar')) : null,
        colorbar: el.querySelector('.colorbar') ? box(el.querySelector('.colorbar')) : null,
        ticks: Array.from(el.querySelectorAll('.xtick text')).map(t => [t.textContent, box(t)])};
"""


def _figure(ui, graph_id: str, count: int | None = None) -> dict:
    """The drawn figure of ``graph_id`` once it has series traces (``count`` distinct series when given)."""

    def ready():
        fig = ui.driver.execute_script(_FIGURE_JS, graph_id)
        series = {(t["meta"]["exchange"], t["meta"]["symbol"]) for t in (fig or {}).get("traces", [])}
        return fig if series and (count is None or len(series) == count) else None

    return until(ready, timeout=20)


def _colours(fig: dict) -> dict:
    return {(t["meta"]["exchange"], t["meta"]["symbol"]): t["colour"] for t in fig["traces"]}


def _window(url: str) -> list[pd.Timestamp]:
    """``[start, end]`` of the view in a link with ``range=7d|custom`` and ``end`` (``start`` for custom)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    end = pd.Timestamp(query["end"])
    start = pd.Timestamp(query["start"]) if "start" in query else end - timedelta(days=7)
    return [start.tz_convert(None), end.tz_convert(None)]


def test_adding_a_symbol_recolours_nothing_and_both_charts_share_colours_and_window(ui):
    """Two series, then a third that sorts before them: the first two keep their colours on both charts (with a
    palette by position they moved on), each series has one colour on the funding and the price chart, both
    charts span exactly the view's 7 days, and each % change starts at 0."""
    open_page(ui, "/?symbols=ETH/USDT,SOL/USDT&exchange=binanceusdm&range=7d&end=2025-06-20T00:00Z")
    before = {name: _colours(_figure(ui, f"overview-{name}-chart", 2)) for name in ("funding", "price")}
    assert before["funding"] == before["price"] and len(set(before["funding"].values())) == 2
    pick(ui, "#overview-symbols", "BTC/USDT")
    after = {name: _figure(ui, f"overview-{name}-chart", 3) for name in ("funding", "price")}
    colours = {name: _colours(fig) for name, fig in after.items()}
    assert colours["funding"] == colours["price"] and len(set(colours["funding"].values())) == 3
    assert {key: colours["funding"][key] for key in before["funding"]} == before["funding"]
    window = _window(ui.driver.current_url)
    for fig in after.values():
        assert [pd.Timestamp(t) for t in fig["range"]] == window
    for trace in after["price"]["traces"]:
        assert trace["y"][0] == 0
    no_console_errors(ui)


def test_a_year_of_funding_and_a_month_of_prices_share_the_time_axis(ui):
    """The issue's case: a one-year custom range where funding covers the year and prices one month: both charts
    span the chosen dates (the custom end date is inclusive: the window ends the next midnight)."""
    open_page(ui, "/?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=custom&start=2025-03-08T00:00Z"
              "&end=2026-03-07T00:00Z")  # fmt: skip
    figs = [_figure(ui, f"overview-{name}-chart", 2) for name in ("funding", "price")]
    window = _window(ui.driver.current_url)
    assert window[1] - window[0] > timedelta(days=360)
    assert [[pd.Timestamp(t) for t in fig["range"]] for fig in figs] == [window, window]


def test_auto_funding_basis_annualises_mixed_intervals_and_a_choice_stays_in_the_link(ui):
    """Binance BTC (8 h) with Hyperliquid BTC (1 h), no basis in the link: annualised, and the note says why;
    choosing "per interval" puts it in the link, and the link reopens per interval."""
    path = "/?symbols=BTC/USDT,BTC/USDC:USDC&exchange=binanceusdm,hyperliquid&range=7d&end=2025-06-20T00:00Z"
    open_page(ui, path)
    fig = _figure(ui, "overview-funding-chart", 2)
    assert "annualised" in fig["yTitle"]
    until(lambda: "1 h and 8 h" in ui.find_element("#overview-funding-note").text, timeout=15)
    assert "funding=" not in ui.driver.current_url
    ui.find_element("label[for='_dbcprivate_radioitems_overview-funding_input_interval']").click()
    until(lambda: "funding=interval" in ui.driver.current_url, timeout=10)
    until(lambda: "per funding interval" in _figure(ui, "overview-funding-chart", 2)["yTitle"], timeout=15)
    until(lambda: "differ" in ui.find_element("#overview-funding-note").text, timeout=15)
    link = ui.driver.current_url
    ui.driver.get("about:blank")
    ui.driver.get(link)
    until(lambda: "per funding interval" in _figure(ui, "overview-funding-chart", 2)["yTitle"], timeout=20)
    no_console_errors(ui)


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_colour_bar_clear_of_the_mode_bar_and_date_ticks_apart(ui, size):
    """At 1,366 and 390 px: the anomaly |z| colour bar does not lie under the mode bar, and no two date tick
    labels of the overview and anomaly charts overlap (they did on the phone: "Jun 23, 2025Jun 24, 2025")."""
    ui.driver.set_window_size(*size)
    open_page(ui, "/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z")
    chart_traces(ui, "anomalies-scatter")
    boxes = {"anomalies-scatter": until(lambda: ui.driver.execute_script(_BOXES_JS, "anomalies-scatter"), 10)}
    assert boxes["anomalies-scatter"]["colorbar"] and boxes["anomalies-scatter"]["modebar"]
    assert not _overlap(boxes["anomalies-scatter"]["colorbar"], boxes["anomalies-scatter"]["modebar"])
    open_page(ui, "/?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=24h&end=2025-06-24T10:00Z")
    for graph in ("overview-funding-chart", "overview-price-chart"):
        _figure(ui, graph, 2)
        boxes[graph] = ui.driver.execute_script(_BOXES_JS, graph)
    for graph, found in boxes.items():
        ticks = found["ticks"]
        assert len(ticks) >= 3, (graph, ticks)
        for (text_a, a), (text_b, b) in zip(ticks, ticks[1:], strict=False):
            assert not _overlap(a, b), (graph, text_a, text_b)
    no_console_errors(ui)
