"""Browser test of sign-in (headless Chromium through dash.testing): sign in, see the overview, the Admin page
(create a key: shown once, listed; revoke it), sign out. Sign-in is required (``ALPHAPULSE_AUTH=required``, the
rule of a non-loopback address) with Secure cookies, which Chromium keeps on ``localhost``.

The user is added through the CLI to the database holding the bundled history and removed afterwards.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.by import By

from app import create_app, with_database
from app.dashboard import build_dash
from settings import get_settings
from tests.ui_helpers import VIEW_7D, chart_traces, no_console_errors
from tests.web_helpers import PASSWORD, SECRET, add_user, cli

pytestmark = pytest.mark.browser


@pytest.fixture
def signed_in_app(dash_duo, recorded_db_url, monkeypatch):
    """dash_duo serving the dashboard with sign-in required; user ``ana`` (admin) exists for the test."""
    add_user(monkeypatch, recorded_db_url, "ana", admin=True)
    settings = replace(with_database(get_settings(), recorded_db_url), auth_mode="required", secret_key=SECRET)
    server = create_app(settings, with_dashboard=False)
    # navigate=False: dash_duo would wait for Dash's entry point at "/", which now sends it to the sign-in page
    dash_duo.start_server(build_dash(server, settings), navigate=False, debug=True, use_reloader=False,
                          dev_tools_hot_reload=False)  # fmt: skip
    dash_duo._url = dash_duo.server.url
    yield dash_duo
    dash_duo.driver.get("about:blank")
    assert cli(monkeypatch, recorded_db_url, "remove", "ana")[0] == 0


def _sign_in(ui, name: str, password: str) -> None:
    for field, value in (("#name", name), ("#password", password)):
        ui.find_element(field).clear()
        ui.find_element(field).send_keys(value)
    ui.find_element("#signin-submit").click()


def test_sign_in_see_the_overview_manage_a_key_and_sign_out(signed_in_app, artifacts_dir):
    ui = signed_in_app
    ui.driver.get(ui.server_url + "/" + VIEW_7D)
    ui.wait_for_element("#signin-form", timeout=15)
    assert "/login?next=" in ui.driver.current_url
    _sign_in(ui, "ana", "not the password")
    assert "Wrong user name or password" in ui.wait_for_element("#signin-error").text
    ui.get_logs()  # consumed: the browser logs the 401 of that page as an error
    _sign_in(ui, "ana", PASSWORD)
    ui.wait_for_element(".ap-controls", timeout=15)  # back on the overview with its view
    assert "symbols=BTC/USDT,ETH/USDT" in ui.driver.current_url.replace("%2F", "/").replace("%2C", ",")
    assert len(chart_traces(ui, "overview-funding-chart")) == 2
    assert ui.find_element("#user-name").text == "ana · admin"
    ui.driver.save_screenshot(str(artifacts_dir / "ui_signed_in_overview.png"))

    ui.find_element("#admin-link").click()
    ui.wait_for_element("#admin-label", timeout=15).send_keys("desk research")
    until(lambda: ui.find_element("#admin-owner").get_attribute("value") == "ana", timeout=10)
    ui.find_element("#admin-create").click()
    key = ui.wait_for_element("#admin-new-key", timeout=15).text
    assert key.startswith("ap_") and len(key) > 40
    until(lambda: "desk research" in ui.find_element("#admin-keys").text, timeout=10)
    assert key not in ui.find_element("#admin-keys").text  # only its first characters are listed
    ui.driver.save_screenshot(str(artifacts_dir / "ui_admin_key_created.png"))
    until(lambda: len(ui.driver.find_elements(By.CSS_SELECTOR, "#admin-revoke-key option")) > 1, timeout=10)
    ui.driver.execute_script("const s = document.getElementById('admin-revoke-key'); s.selectedIndex = 1;"
                             "s.dispatchEvent(new Event('change', {bubbles: true}));")  # fmt: skip
    ui.find_element("#admin-revoke").click()
    assert "revoked" in ui.wait_for_element("#admin-revoked .alert", timeout=10).text
    no_console_errors(ui)

    ui.find_element("#sign-out").click()
    ui.wait_for_element("#signin-form", timeout=15)
    ui.driver.get(ui.server_url + "/system")
    ui.wait_for_element("#signin-form", timeout=15)  # signed out: the pages ask again
