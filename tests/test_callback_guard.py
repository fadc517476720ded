"""Dash's endpoints under malformed requests (issue 12, items 2-4 and 13): a 4xx and one log line, never a 500,
and bad page links render the page with a warning. Real Flask app on the bundled history, requests over
Werkzeug's test client (the browser tests drive the same endpoints through Chromium)."""

from __future__ import annotations

import json
import logging

import pytest

from app import create_app, with_database
from app.dashboard import build_dash
from settings import get_settings
from tests.dash_requests import callback_body, find_output, post_callback, server_callbacks


@pytest.fixture(scope="module")
def dash_app(recorded_db_url):
    settings = with_database(get_settings(), recorded_db_url)
    server = create_app(settings, with_dashboard=False)
    app = build_dash(server, settings)
    assert server.test_client().get("/").status_code == 200  # the first request registers Dash's page router
    return app


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


def _post(client, body):
    return post_callback(client, body)


@pytest.mark.parametrize("path", ["/", "/anomalies", "/system"])
@pytest.mark.parametrize("end", ["0001-01-02T00:00Z", "0001-01-01T00:00%2B01:00", "9999-12-31T23:59:59-01:00"])
def test_a_page_link_with_an_impossible_time_renders_the_page_with_a_warning(dash_app, client, path, end):
    router = find_output(dash_app, "_pages_content.children")
    response = _post(client, callback_body(dash_app, router, [path, f"?end={end}"]))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    assert "Some link parameters were ignored" in page and "is outside 1970..2199" in page


@pytest.mark.parametrize(
    "path",
    [
        "/_dash-component-suites/dash/nope.js",
        "/_dash-component-suites/dash/..%2F..%2Fsettings%2F__init__.py",
        "/_dash-component-suites/dash/../../settings/__init__.py",
        "/_dash-component-suites/not_a_package/x.js",
    ],
)
def test_unknown_component_files_are_404(client, path, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get(path)
    assert response.status_code == 404
    assert not [r for r in caplog.records if r.exc_info]


BAD_BODIES = [
    "null",
    "[]",
    "{}",
    '{"output": "x.y"}',
    "[" * 100_000,
    "{" * 50 + "}" * 50,
    "not json",
    b"\xff\xfe",
    '{"output": 5}',
    '{"output": "view-query.data@0"}',
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_callback_bodies_are_400_with_one_log_line(client, body, caplog):
    with caplog.at_level(logging.INFO):
        response = _post(client, body)
    assert response.status_code == 400 and response.get_json()["status"] == 400
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert not [r for r in caplog.records if r.exc_info]


def test_bodies_that_do_not_fit_the_named_callback_are_400(dash_app, client):
    output = find_output(dash_app, "anomalies-state.data")
    good = callback_body(dash_app, output)
    variants = [
        {**good, "inputs": good["inputs"][:-1]},  # one input short
        {**good, "inputs": [{**good["inputs"][0], "id": "other"}, *good["inputs"][1:]]},
        {**good, "inputs": "x"},
        {**good, "outputs": good["outputs"][:1]},
        {**good, "state": [{}]},
        {**good, "changedPropIds": [1]},
    ]
    for body in variants:
        response = _post(client, body)
        assert response.status_code == 400, body


@pytest.mark.parametrize(
    ("fragment", "position", "value"),
    [
        ("anomalies-state.data", 0, -1),  # anomalies-exchanges.value = -1 (the example)
        ("anomalies-state.data", 1, {"a": 1}),
        ("anomalies-state.data", 2, "2y"),
        ("anomalies-state.data", 3, "x"),
        ("anomalies-state.data", 7, "0001-01-02T00:00Z"),
        ("anomalies-state.data", 9, "big"),
        ("overview-drawn.data", 0, {"query": "", "state": [], "now": "x"}),
        ("overview-drawn.data", 0, [1, 2]),
        ("system-fp.data", 0, 5),
    ],
)
def test_wrong_value_types_are_400_not_500(dash_app, client, fragment, position, value, caplog):
    output = find_output(dash_app, fragment)
    cb = dash_app.callback_map[output]
    inputs = [None] * len(cb["inputs"])
    inputs[position] = value
    body = callback_body(dash_app, output, inputs)
    if fragment == "system-fp.data":  # the refresh check: a real store, a drawn fingerprint of the wrong type
        body = callback_body(dash_app, output, [_store(dash_app, client), 1], [value])
    with caplog.at_level(logging.INFO):
        response = _post(client, body)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert not [r for r in caplog.records if r.exc_info]


def _store(dash_app, client) -> dict:
    """A real view store, as the controls callback of the overview writes it."""
    output = find_output(dash_app, "overview-state.data")
    response = _post(client, callback_body(dash_app, output))
    assert response.status_code == 200
    return response.get_json()["response"]["overview-state"]["data"]


def test_reload_hash_and_dev_tools_are_off_in_production(client, dash_app):
    assert client.get("/_reload-hash").status_code == 404
    page = client.get("/").get_data(as_text=True)
    config = json.loads(page.split('<script id="_dash-config" type="application/json">')[1].split("</script>")[0])
    assert config["ui"] is False and config["props_check"] is False and "hot_reload" not in config
    assert server_callbacks(dash_app)  # the guard reads the live callback map
