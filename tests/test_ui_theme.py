"""Browser test of the dark theme (issue 11, item 19): follows the system setting, switchable, kept in a cookie
across reloads, charts themed to match (headless Chromium over the bundled history, fixtures of
``tests/ui_helpers.py``)."""

from __future__ import annotations

import pytest
from dash.testing.wait import until

from app.figures.colours import series_colour
from app.figures.theme import DARK_BACKGROUND
from tests.ui_helpers import no_console_errors, open_page

pytestmark = pytest.mark.browser

VIEW = "/?symbols=BTC/USDT,ETH/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z"

_CHART_JS = """
const el = document.querySelector('#overview-funding-chart .js-plotly-plot');
if (!el || !el._fullLayout || !el._fullData.some(t => t.meta)) { return null; }
return {paper: el._fullLayout.paper_bgcolor,
        colours: el._fullData.filter(t => t.meta).map(t => [t.meta.exchange, t.meta.symbol, t.line.color])};
"""



def _theme(ui) -> str | None:
    return ui.driver.execute_script("return document.documentElement.getAttribute('data-bs-theme')")


def _chart(ui, dark: bool) -> dict:
    """The funding chart's paper colour and series colours once its background is the theme's."""
    return until(lambda: (c := ui.driver.execute_script(_CHART_JS)) and (c["paper"] == DARK_BACKGROUND) == dark and c,
                 timeout=15)  # fmt: skip


def test_dark_theme_switches_themes_the_charts_and_survives_a_reload(ui):
    ui.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                              {"features": [{"name": "prefers-color-scheme", "value": "light"}]})  # fmt: skip
    open_page(ui, VIEW)
    until(lambda: _theme(ui) == "light", timeout=10)
    light = _chart(ui, dark=False)
    ui.find_element("#theme-toggle").click()
    until(lambda: _theme(ui) == "dark", timeout=10)
    dark = _chart(ui, dark=True)
    for exchange, symbol, colour in dark["colours"]:
        assert colour == series_colour(exchange, symbol, background=DARK_BACKGROUND)
    assert [c[2] for c in dark["colours"]] != [c[2] for c in light["colours"]]
    assert ui.driver.execute_script("return document.body.getAttribute('data-ag-theme-mode')") == "dark"
    background = ui.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(26, 29, 32)"  # --ap-page-bg of the dark theme

    ui.driver.refresh()  # the cookie keeps the choice
    ui.wait_for_element(".ap-controls", timeout=15)
    until(lambda: _theme(ui) == "dark", timeout=10)
    _chart(ui, dark=True)
    no_console_errors(ui)


def test_without_a_choice_the_theme_follows_the_system(ui):
    ui.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                              {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})  # fmt: skip
    open_page(ui, VIEW)
    until(lambda: _theme(ui) == "dark", timeout=10)
    _chart(ui, dark=True)
    assert ui.find_element("#theme-toggle").text == "Light"
