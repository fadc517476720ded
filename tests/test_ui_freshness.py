"""Browser tests of "is this live?" (issue 11, items 1 and 2): the feed banner on every page, the freshness stamp,
and the Anomalies page landing on anomalies. Headless Chromium over the bundled history (fixtures of
``tests/ui_helpers.py``), where every feed is down by construction (the newest row is months old); expected
times come from independent SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dash.testing.wait import until
from sqlalchemy import text

from settings import get_settings
from tests.ui_helpers import GRID_JS, no_console_errors, open_page

pytestmark = pytest.mark.browser



def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _newest_feed_time(engine) -> datetime:
    """Newest time data became available on any configured feed: a funding row's time, a 1-minute candle's close."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT greatest((SELECT max(time) FROM funding_rates WHERE exchange = ANY(:e)),"
            " (SELECT max(time) + interval '1 minute' FROM prices WHERE exchange = ANY(:e) AND timeframe = '1m'"
            "  AND price_kind = 'last'))"
        ), {"e": list(get_settings().exchanges)}).scalar_one()  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/anomalies", "/system"])
def test_every_page_says_the_feeds_are_down_and_up_to_when_data_exists(ui, recorded_engine, path):
    """With only recorded history the banner says the live feeds are down and names the newest data time."""
    open_page(ui, path)
    banner = ui.wait_for_element("#feed-banner .ap-feed-banner", timeout=15)
    until(lambda: "Live feeds are down" in banner.text, timeout=10)
    assert f"Data as of {_utc(_newest_feed_time(recorded_engine))}" in banner.text
    assert "Checked at" in banner.text
    assert "alert-danger" in banner.get_attribute("class")
    no_console_errors(ui)


def test_the_stamp_names_the_data_time_and_the_check_time(ui):
    """The refresh stamp says "Data as of <newest row in view> · checked at <clock>", not "Last updated"."""
    open_page(ui, "/?symbols=BTC/USDT&exchange=binanceusdm&range=24h&end=2025-06-20T00:00Z&refresh=5")
    stamp = ui.find_element("#overview-updated")
    until(lambda: stamp.text.startswith("Data as of "), timeout=20)
    data_time = datetime.strptime(stamp.text[len("Data as of "):][:16], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert datetime(2025, 6, 19, tzinfo=UTC) <= data_time < datetime(2025, 6, 20, tzinfo=UTC)
    assert " · checked at " in stamp.text and "Last updated" not in stamp.text


def _newest_anomaly(engine, min_z: float) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT max(time) FROM anomalies WHERE exchange = 'binanceusdm' AND symbol = 'BTC/USDT:USDT'"
            " AND abs(z_score) >= :z"
        ), {"z": min_z}).scalar_one()  # fmt: skip


def test_anomalies_without_live_data_open_on_the_newest_matching_anomaly(ui, recorded_engine):
    """A live Anomalies view with nothing in its window shows the window ending at the newest matching anomaly."""
    newest = _newest_anomaly(recorded_engine, 6)
    open_page(ui, "/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=24h&min_z=6")
    notice = ui.wait_for_element("#anomalies-empty-text", timeout=15)
    anchor = newest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    until(lambda: f"anomalies matching these filters instead, up to {_utc(anchor)}" in notice.text, timeout=15)
    rows = until(lambda: ui.driver.execute_script(GRID_JS, "anomalies-table") or None, timeout=15)
    assert rows[0]["time"] == newest.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    no_console_errors(ui)


def test_a_window_without_matches_jumps_to_the_newest_matching_anomaly(ui, recorded_engine):
    """An anchored window with data but no anomaly at |z| >= 8 offers the newest one that matches, and lands on it."""
    with recorded_engine.connect() as conn:
        quiet_end = conn.execute(text(
            "SELECT min(time) FROM prices WHERE exchange = 'binanceusdm' AND symbol = 'BTC/USDT:USDT'"
            " AND timeframe = '1m'"
        )).scalar_one() + timedelta(hours=1)  # fmt: skip
        in_window = conn.execute(text(
            "SELECT count(*) FROM anomalies WHERE exchange = 'binanceusdm' AND symbol = 'BTC/USDT:USDT'"
            " AND abs(z_score) >= 8 AND time >= :start AND time < :end"
        ), {"start": quiet_end - timedelta(hours=1), "end": quiet_end}).scalar_one()  # fmt: skip
    assert in_window == 0, "the first recorded hour should hold no anomaly at |z| >= 8"
    newest = _newest_anomaly(recorded_engine, 8)
    end = quiet_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    open_page(ui, f"/anomalies?symbols=BTC/USDT&exchange=binanceusdm&range=1h&end={end}&min_z=8")
    notice = ui.wait_for_element("#anomalies-empty-text", timeout=15)
    until(lambda: f"The newest one that does is at {_utc(newest)}" in notice.text, timeout=15)
    ui.find_element("#anomalies-jump").click()
    rows = until(lambda: ui.driver.execute_script(GRID_JS, "anomalies-table") or None, timeout=15)
    assert rows[0]["time"] == newest.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    no_console_errors(ui)
