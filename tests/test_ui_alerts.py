"""Browser test of the Alerts page (headless Chromium through dash.testing): create a rule through the form (a
refused field shows its message beside it), see it listed; a firing state written as the owner (as the alerts
worker would) shows in the navigation bar's badge and the firing table; mute and delete through the buttons.
Sign-in is off (loopback: the local user has the admin role)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from dash.testing.wait import until
from sqlalchemy import text

from app import with_database
from settings import get_settings
from tests.ui_helpers import LAPTOP, PHONE, no_console_errors, serve_dashboard

pytestmark = pytest.mark.browser


@pytest.fixture
def alerts_ui(dash_duo, db_url, engine):
    """dash_duo serving the dashboard on the session database without alert rules, states or events; the badge
    ticks every second."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alert_rules, alert_states, alert_events, alert_deliveries"))
    settings = replace(with_database(get_settings(), db_url), alert_eval_seconds=1.0)
    yield from serve_dashboard(dash_duo, settings)


_WIDE_JS = """return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right >
  window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className);"""


def _choose(ui, select_id: str, value: str) -> None:
    ui.driver.execute_script("const s = document.getElementById(arguments[0]); s.value = arguments[1];"
                             "s.dispatchEvent(new Event('change', {bubbles: true}));", select_id, value)


def _click(ui, button_id: str) -> None:
    """Click through the DOM (Dash's dev-tools bar may cover a button at the bottom of the window)."""
    ui.driver.execute_script("document.getElementById(arguments[0]).click();", button_id)


def _type(ui, input_id: str, value: str) -> None:
    field = ui.find_element(f"#{input_id}")
    field.clear()
    field.send_keys(value)


def test_create_a_rule_see_it_fire_mute_and_delete(alerts_ui, engine, artifacts_dir):
    ui = alerts_ui
    ui.driver.get(ui.server_url + "/alerts")
    ui.wait_for_element("#alerts-f-name", timeout=15)
    assert not ui.find_element("#nav-alerts-badge").is_displayed()  # nothing fires: no badge
    _choose(ui, "alerts-f-kind", "premium")
    _type(ui, "alerts-f-params-level_bp", "-5")
    _click(ui, "alerts-save")
    until(lambda: "text" in ui.find_element("#alerts-err-name").text, timeout=10)  # name missing: said beside it
    _type(ui, "alerts-f-name", "BTC premium")
    _type(ui, "alerts-f-symbols", "BTC/USDT")
    _click(ui, "alerts-save")
    until(lambda: "params" not in ui.find_element("#alerts-err-name").text
          and ui.find_element("#alerts-err-params-level_bp").text, timeout=10)  # fmt: skip
    _type(ui, "alerts-f-params-level_bp", "50")
    _click(ui, "alerts-save")
    ui.wait_for_element("#alerts-saved", timeout=10)
    with engine.connect() as conn:
        rule = conn.execute(text("SELECT id, name, kind, params, symbols FROM alert_rules")).mappings().one()
    assert (rule["name"], rule["kind"], rule["params"], rule["symbols"]) == (
        "BTC premium", "premium", {"level_bp": 50.0}, ["BTC/USDT:USDT"])
    until(lambda: "|mark / index − 1| ≥ 50 bp" in ui.find_element("#alerts-rules").text, timeout=10)
    assert "BTC/USDT" in ui.find_element("#alerts-rules").text

    with engine.begin() as conn:  # as the owner, as the alerts worker would write it
        conn.execute(text("INSERT INTO alert_states (rule_id, subject, state, pending_count, since, last_value) "
                          "VALUES (:r, 'binance|BTC/USDT:USDT', 'firing', 1, :t, 61.5)"),
                     {"r": rule["id"], "t": datetime.now(UTC)})
        firing = conn.execute(text("SELECT count(*) FROM alert_states WHERE state = 'firing'")).scalar()
    until(lambda: ui.find_element("#nav-alerts-badge").text == str(firing), timeout=10)
    until(lambda: "binance BTC/USDT" in ui.find_element("#alerts-firing").text, timeout=10)
    assert "61.5" in ui.find_element("#alerts-firing").text
    for width, height in (LAPTOP, PHONE):
        ui.driver.set_window_size(width, height)
        ui.driver.save_screenshot(str(artifacts_dir / f"ui_alerts_{width}.png"))
        overflow = ui.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        wide = ui.driver.execute_script(_WIDE_JS)
        assert overflow <= 0, f"page wider than the window at {width} px by {overflow} px: {wide}"
    ui.driver.set_window_size(*LAPTOP)

    until(lambda: len(ui.driver.find_elements("css selector", "#alerts-rule option")) > 1, timeout=10)
    _choose(ui, "alerts-rule", str(rule["id"]))
    _click(ui, "alerts-mute")
    until(lambda: "muted" in ui.find_element("#alerts-action-result").text, timeout=10)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT muted_until > now() FROM alert_rules")).scalar()
    _click(ui, "alerts-delete")
    until(lambda: "deleted" in ui.find_element("#alerts-action-result").text, timeout=10)
    until(lambda: not ui.find_element("#nav-alerts-badge").is_displayed(), timeout=10)  # its state no longer counts
    no_console_errors(ui)
