"""Fuzzing (hypothesis) of every ``/api`` parameter and of the inputs of every server callback: no 5xx.

Both lists are discovered, so endpoints and pages added later are fuzzed without editing this file:

* API routes are the GET rules under ``/api`` of the app's URL map; the parameters of each are those the
  endpoint itself names when asked with an unknown one (``"accepted: …"`` in its 400, ``app.params.reject_unknown``).
* Callbacks are the server-side entries of the Dash app's callback map (Dash's page router included).

Values mix arbitrary text/JSON with real ones (valid times, symbols, a real view store and draw request) and real
ones with a field replaced, so the fuzzing reaches the queries behind the validation. Runs against the bundled
history over Werkzeug's test client; ``derandomize`` keeps CI's examples the same from run to run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app, with_database
from app.dashboard import build_dash
from settings import get_settings
from tests.dash_requests import callback_body, find_output, post_callback, server_callbacks

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

TIMES = st.builds(
    lambda t, minutes, fmt: t.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(timespec=fmt),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(-23 * 60, 23 * 60),
    st.sampled_from(["auto", "minutes", "seconds", "milliseconds"]),
)
WORDS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1.5",
        "1e309",
        "nan",
        "inf",
        "-inf",
        "NaN",
        "true",
        "null",
        "BTC",
        "btc",
        "BTCUSDT",
        "BTC/USDT",
        "BTC/USDT:USDT",
        "ETH,SOL",
        "NOPE",
        "binanceusdm",
        "bybit,okx",
        "kraken",
        "1m",
        "15m",
        "1h",
        "1w",
        "2y",
        "json",
        "csv",
        "xml",
        "funding_rate",
        "premium,log_return_1m",
        "1000",
        "10000",
        "100000",
        "2025-06-20",
        "2025-06-20T00:00:00Z",
        "0001-01-01T00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "..%2F",
        "../",
        "\x00",
        "%",
        "a" * 2000,
        "custom",
        "7d",
        "annual",
        "interval",
    ]
)
PARAM_VALUES = st.one_of(WORDS, TIMES, st.text(max_size=30), st.integers().map(str), st.floats().map(str))

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), WORDS, TIMES)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def dash_app(recorded_db_url):
    app_settings = replace(with_database(get_settings(), recorded_db_url), api_rate_limit="1000000 per minute")
    server = create_app(app_settings, with_dashboard=False)
    app = build_dash(server, app_settings)
    assert server.test_client().get("/").status_code == 200  # registers Dash's page router
    return app


@pytest.fixture(scope="module")
def client(dash_app):
    return dash_app.server.test_client()


def _no_server_error(response, what: str) -> None:
    """No 5xx, except ``/api/health``'s documented 503 for a pipeline that is ``down`` (a load balancer's signal;
    every feed of the bundled history is stale)."""
    if what.startswith("GET /api/health?") and response.status_code == 503:
        assert response.get_json()["status"] == "down"
        return
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.get_data(as_text=True)[:400]}"


def api_routes(server) -> list[str]:
    """Every GET endpoint under ``/api/`` (the catch-all rules answering JSON 404 for unknown paths excluded)."""
    rules = [r for r in server.url_map.iter_rules() if r.rule.startswith("/api/") and "GET" in (r.methods or ())]
    return sorted(r.rule for r in rules if "<" not in r.rule and r.rule != "/api/")


def accepted_parameters(client, path: str) -> list[str]:
    """The parameters ``path`` accepts, as its 400 for an unknown parameter lists them."""
    body = client.get(f"{path}?zz_unknown=1").get_json()
    assert body["parameter"] == "zz_unknown", body
    names = body["error"].split("accepted:", 1)[1]
    return [n.strip() for n in names.split(",") if n.strip()]


def test_every_api_parameter_fuzzed_gives_no_5xx(dash_app, client):
    routes = api_routes(dash_app.server)
    assert {"/api/health", "/api/prices", "/api/funding-rates", "/api/anomalies"} <= set(routes)
    for path in routes:
        _fuzz_route(client, path, accepted_parameters(client, path))


def _fuzz_route(client, path: str, names: list[str]) -> None:
    @FUZZ
    @given(values=st.dictionaries(st.sampled_from([*names, "zz_other"]), PARAM_VALUES, max_size=len(names) + 1))
    def fuzz(values):
        query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in values.items())
        _no_server_error(client.get(f"{path}?{query}"), f"GET {path}?{query}")

    fuzz()


def _real_values(dash_app, client) -> list:
    """Values a real session sends: the overview's view store and the draw request it leads to."""
    output = find_output(dash_app, "overview-state.data")
    store = _post(
        client,
        callback_body(
            dash_app, output, [["binanceusdm"], ["BTC/USDT:USDT"], "7d", 10, "annual", None, None, "2025-06-20T00:00Z"]
        ),
    )
    store = store.get_json()["response"]["overview-state"]["data"]
    check = find_output(dash_app, "overview-fp.data")
    request = _post(client, callback_body(dash_app, check, [store, 1], [None])).get_json()
    draw = request["response"]["overview-fp"]["data"]
    return [
        store,
        draw,
        {"query": store["query"], "fp": {}},
        [{"label": "x", "value": "BTC/USDT:USDT"}],
        ["BTC/USDT:USDT", "ETH/USDT:USDT"],
        ["binanceusdm"],
        "2025-06-20T00:00Z",
        "2025-06-01",
        "/",
        "/anomalies",
        "?end=2025-06-20T00:00Z&range=7d&symbols=BTC/USDT",
    ]


def _post(client, body):
    return post_callback(client, body)


def _mutated(real: list) -> st.SearchStrategy:
    """A real dict value with one key replaced by arbitrary JSON (reaches the checks after the first)."""
    dicts = [v for v in real if isinstance(v, dict)]
    return st.builds(
        lambda d, k, v: {**d, k: v},
        st.sampled_from(dicts),
        st.sampled_from(sorted({k for d in dicts for k in d})),
        JSON,
    )


def test_every_callback_input_fuzzed_gives_no_5xx(dash_app, client):
    real = _real_values(dash_app, client)
    values = st.one_of(JSON, st.sampled_from(real), _mutated(real))
    outputs = sorted(server_callbacks(dash_app))
    assert any("_pages_content" in o for o in outputs) and len(outputs) >= 19
    for output in outputs:
        _fuzz_callback(dash_app, client, output, values)


def _fuzz_callback(dash_app, client, output: str, values: st.SearchStrategy) -> None:
    cb = dash_app.callback_map[output]

    @FUZZ
    @given(
        inputs=st.lists(values, min_size=len(cb["inputs"]), max_size=len(cb["inputs"])),
        state=st.lists(values, min_size=len(cb["state"]), max_size=len(cb["state"])),
    )
    def fuzz(inputs, state):
        body = callback_body(dash_app, output, inputs, state)
        _no_server_error(_post(client, body), f"callback {output} with {json.dumps(body)[:300]}")

    fuzz()
