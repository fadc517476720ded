"""Browser tests of controls and tables (issue 11, items 14-18): headless Chromium on the dashboard over the bundled
history (fixtures of ``tests/ui_helpers.py``). Expected values come from independent SQL or from the page's own
grid rows; downloads land in a directory Chromium is told to use.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sqlalchemy import text

from tests.ui_helpers import GRID_JS, chart_traces, no_console_errors, open_page

pytestmark = pytest.mark.browser

WIDE = (1440, 900)
PHONE = (390, 844)
VIEW = "?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z"
ANOMALIES = "/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z&min_z=6"

#: Records console.warn before any page script runs (dash.testing keeps only SEVERE browser logs).
_WARN_HOOK = """
window.__warnings = [];
const warn = console.warn;
console.warn = function (...args) { window.__warnings.push(args.map(String).join(' ')); warn.apply(console, args); };
"""

_TRUNCATED_JS = """
const cells = document.querySelectorAll('#' + arguments[0] + ' .ag-cell');
return Array.from(cells).filter(c => { const v = c.querySelector('.ag-cell-value') || c;
                                        return v.scrollWidth > v.clientWidth + 1; }).map(c => c.textContent);
"""


@pytest.fixture
def ui(ui, tmp_path):
    """The dashboard in headless Chromium (``ui`` of ``tests/ui_helpers.py``) recording console warnings and
    saving downloads under ``tmp_path``."""
    driver = ui.driver
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _WARN_HOOK})
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    ui.downloads = tmp_path
    return ui


def _click(ui, element) -> None:
    """Scroll ``element`` into view and click it through the DOM (a pointer click below the fold or under an open
    menu is intercepted)."""
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)


def _rows(ui, grid_id: str) -> list[dict]:
    return until(lambda: ui.driver.execute_script(GRID_JS, grid_id) or None, timeout=15)


@pytest.mark.parametrize("size", [WIDE, PHONE], ids=["1440px", "phone"])
@pytest.mark.parametrize(("path", "grid_id"), [(f"/{VIEW}", "overview-table"), (ANOMALIES, "anomalies-table")])
def test_table_values_are_whole_and_ag_grid_does_not_warn(ui, path, grid_id, size):
    """Every rendered cell shows its whole value at 1,440 px and on a phone (the grid scrolls sideways there; no
    "2026-03-0…"), and no AG Grid warning (#29: sizing columns of a hidden grid) reaches the console."""
    ui.driver.set_window_size(*size)
    open_page(ui, path)
    _rows(ui, grid_id)
    time.sleep(0.5)  # let the grid lay its columns out
    assert ui.driver.execute_script(_TRUNCATED_JS, grid_id) == []
    warnings = ui.driver.execute_script("return window.__warnings")
    assert [w for w in warnings if "AG Grid" in w] == []
    no_console_errors(ui)


def test_comparison_sort_is_kept_in_the_link(ui):
    """Sorting the comparison table by a column puts ``sort=`` in the link; opening that link sorts the same way."""
    open_page(ui, f"/{VIEW}")
    _rows(ui, "overview-table")
    header = ui.driver.find_element(By.CSS_SELECTOR, '#overview-table .ag-header-cell[col-id="last_price"]')
    _click(ui, header.find_element(By.CSS_SELECTOR, ".ag-header-cell-label"))  # ascending
    until(lambda: "sort=last_price" in ui.driver.current_url, timeout=10)
    _click(ui, header.find_element(By.CSS_SELECTOR, ".ag-header-cell-label"))  # descending
    until(lambda: "sort=-last_price" in ui.driver.current_url, timeout=10)
    link = ui.driver.current_url
    ui.driver.get("about:blank")
    ui.driver.get(link)
    ui.wait_for_element(".ap-controls", timeout=15)
    rows = _rows(ui, "overview-table")
    shown = ui.driver.execute_script(
        "const r = []; window.dash_ag_grid.getApi(arguments[0]).forEachNodeAfterFilterAndSort(n => r.push(n.data));"
        " return r;", "overview-table")  # fmt: skip
    prices = [r["last_price"] for r in shown]
    assert prices == sorted((r["last_price"] for r in rows), reverse=True)
    assert parse_qs(urlsplit(ui.driver.current_url).query)["sort"] == ["-last_price"]


def test_a_link_with_unknown_values_says_what_was_ignored(ui):
    """``symbols=FOO,BTC`` names FOO as without data; ``metric=bogus`` is reported, like a bad ``min_z``."""
    open_page(ui, "/?symbols=FOO/USDT,BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z")
    note = ui.wait_for_element("#overview-unknown .alert", timeout=20)
    assert "symbol FOO/USDT" in note.text and "BTC/USDT" not in note.text
    open_page(ui, "/anomalies?symbols=BTC/USDT&metric=bogus,premium")
    problems = ui.wait_for_element(".ap-problems", timeout=10)
    assert "metric 'bogus' is not one of" in problems.text
    no_console_errors(ui)


def test_pickers_show_ten_options_and_the_date_picker_opens_where_data_ends(ui, recorded_engine):
    """An open symbol picker shows at least 8 options at once; the date picker is bounded to the days with data and
    opens on the month where it ends; "custom" without dates says the last 24 h are shown meanwhile."""
    open_page(ui, f"/{VIEW}")
    _rows(ui, "overview-table")
    _click(ui, ui.find_element("#overview-symbols"))
    options = until(lambda: ui.driver.find_elements(By.CSS_SELECTOR, "[role=option]") or None, timeout=10)
    menu = options[0].find_element(By.XPATH, "./ancestor::*[@role='listbox'][1]")
    visible = [o for o in options if o.rect["y"] + o.rect["height"] <= menu.rect["y"] + menu.rect["height"] + 1]
    assert len(options) >= 8 and len(visible) >= 8, (len(options), len(visible))
    ActionChains(ui.driver).send_keys(Keys.ESCAPE).perform()  # close the menu
    with recorded_engine.connect() as conn:
        last = conn.execute(text(
            "SELECT max(last_time) FROM pair_extents WHERE exchange = 'binanceusdm'"
            " AND symbol IN ('BTC/USDT:USDT', 'ETH/USDT:USDT')"
        )).scalar_one()  # fmt: skip
    month = last.astimezone(UTC).strftime("%B %Y")
    _click(ui, ui.find_element("#overview-dates"))  # Dash 4: the id is the start date's input
    until(lambda: month in ui.driver.find_element(By.TAG_NAME, "body").text, timeout=10)
    ActionChains(ui.driver).send_keys(Keys.ESCAPE).perform()
    _click(ui, ui.driver.find_element(By.XPATH, "//label[text()='custom']"))
    hint = ui.wait_for_element("#overview-dates-hint", timeout=10)
    until(lambda: "until then the last 24 h are shown" in hint.text, timeout=10)
    assert ui.driver.find_elements(By.CSS_SELECTOR, ".ap-dates-pending")  # the picker is outlined


def _downloaded(ui, name: str) -> list[dict]:
    path = ui.downloads / name
    until(lambda: path.exists() and path.stat().st_size > 0, timeout=15)
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))  # AG Grid writes a BOM


def test_tables_and_charts_download_as_csv(ui):
    """The comparison table downloads its rows as shown; the funding chart its plotted points with the unit."""
    open_page(ui, f"/{VIEW}")
    rows = _rows(ui, "overview-table")
    _click(ui, ui.find_element("#overview-table-csv"))
    table = _downloaded(ui, "alphapulse-comparison.csv")
    assert [r["Symbol"] for r in table] == [r["symbol"] for r in rows]
    assert [float(r["Last price"]) for r in table] == [r["last_price"] for r in rows]

    traces = chart_traces(ui, "overview-funding-chart")
    _click(ui, ui.find_element("#overview-funding-chart-csv"))
    points = _downloaded(ui, "alphapulse-funding.csv")
    value = next(k for k in points[0] if k.startswith("value ("))
    assert "%" in value  # the axis unit
    for trace in traces:
        plotted = {(x, y) for x, y in zip(trace["x"], trace["y"], strict=True) if y is not None}
        listed = {(p["time_utc"], float(p[value])) for p in points if p["series"] == trace["name"]}
        # the CSV keeps 15 significant digits (app.serialize.tidy_floats), the chart holds the float as computed
        assert sorted({y for _, y in listed}) == pytest.approx(sorted({y for _, y in plotted}), rel=1e-13)
    no_console_errors(ui)
