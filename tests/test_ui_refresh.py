"""Browser test of the auto-refresh: a live view redraws only when new rows arrive (dash.testing's ``dash_duo`` in
Debian's headless Chromium, the app on the session's test database)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dash.testing.wait import until
from sqlalchemy import text

from app import create_app, with_database
from app.dashboard import build_dash
from db.writes.extents import rebuild_extents
from ingest.recorded import read_klines_1m
from settings import get_settings
from tests.ui_helpers import chart_traces, no_console_errors

pytestmark = pytest.mark.browser

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
    before = until(lambda: (t := chart_traces(dash_duo, "overview-price-chart")) and t, timeout=20)
    dash_duo.driver.execute_script(_WATCH_JS)
    _next_tick(dash_duo)
    _next_tick(dash_duo)
    assert dash_duo.driver.execute_script("return window.__redraws") == 0

    _insert_candles(clean_db, btc.iloc[30:])
    until(lambda: dash_duo.driver.execute_script("return window.__redraws") >= 1, timeout=15)
    after = chart_traces(dash_duo, "overview-price-chart")
    assert len(after[0]["x"]) == len(before[0]["x"]) + 1
    _next_tick(dash_duo)
    _next_tick(dash_duo)
    assert dash_duo.driver.execute_script("return window.__redraws") == 1
    no_console_errors(dash_duo)
