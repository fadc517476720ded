"""Dash's responses written by ``app.dash_json`` (orjson with plotly's cleaning as its default) are plotly's JSON:
every page's real layout on the bundled history and a draw's mix of components and recorded-data figures parse to
the same values as plotly's own ``to_json_plotly`` writes; the app's Dash calls it; what neither can write fails
the same way."""

from __future__ import annotations

import decimal
import json
from datetime import timedelta

import dash
import numpy as np
import pandas as pd
import plotly.io.json as plotly_json
import pytest
from dash import dcc, html
from sqlalchemy import text

from app import create_app, dash_json, with_database
from app.figures import funding_figure, price_figure
from db import queries
from settings import get_settings

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


@pytest.fixture(scope="module")
def server(recorded_db_url):
    server = create_app(with_database(get_settings(), recorded_db_url))
    assert server.test_client().get("/").status_code == 200  # Dash's page registry complete
    return server


def _times_as_instants(value):
    """``value`` (parsed JSON) with every ISO time string as a pandas Timestamp: a ``datetime64`` array is written
    as ``2025-06-24T10:33:00`` by orjson and ``2025-06-24T10:33:00.000000`` by numpy (same instant)."""
    if isinstance(value, dict):
        return {k: _times_as_instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_times_as_instants(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return pd.Timestamp(value)
    return value


def test_the_app_makes_dash_write_through_orjson_in_one_pass(server):
    assert plotly_json.to_json_plotly is dash_json.to_json_plotly
    # a datetime64 array beside a component: orjson's time format, not plotly's cleaned one, so Dash went through ours
    value = {"c": html.Div("x", id="a"), "x": np.array(["2025-06-24T10:33"], dtype="datetime64[us]")}
    assert '"2025-06-24T10:33:00"' in dash._utils.to_json(value)  # noqa: SLF001
    assert '"2025-06-24T10:33:00.000000"' in dash_json.PLOTLY_TO_JSON(value)


def test_every_page_layout_is_written_as_plotly_writes_it(server):
    pages = list(dash.page_registry.values())
    assert {p["path"] for p in pages} >= {"/", "/markets", "/anomalies", "/system", "/alerts"}
    with server.test_request_context("/"):
        for page in pages:
            layout = page["layout"]() if callable(page["layout"]) else page["layout"]
            ours = dash_json.to_json_plotly(layout)
            assert json.loads(ours) == json.loads(dash_json.PLOTLY_TO_JSON(layout)), page["path"]
            assert '"props"' in ours and "</" not in ours  # components written, HTML-safe


def test_a_draw_of_components_and_recorded_figures_parses_to_plotlys_values(recorded_engine):
    with recorded_engine.connect() as conn:
        end = conn.execute(text("SELECT max(time) FROM prices WHERE timeframe = '1m'")).scalar()
        start = end - timedelta(days=2)
        bucket = queries.choose_bucket(start, end)
        funding = queries.funding_series(conn, ["binanceusdm"], SYMBOLS, start, end, bucket)
        prices = queries.price_series(conn, ["binanceusdm"], SYMBOLS, start, end, bucket)
    assert not funding.empty and not prices.empty
    out = {
        "cards": [html.Div([html.Strong("BTC/USDT"), " </script> \u2028"], className="card"), None],
        "funding": funding_figure(funding, "annual", bucket, "rev", None, 0, (start, end)),
        "prices": price_figure(prices, bucket, "rev", None, 0, (start, end)),
        "values": [np.float64("nan"), np.int64(7), decimal.Decimal("0.1"), pd.Timestamp(end),
                   dcc.Store(id="s", data=None)],
    }
    ours = dash_json.to_json_plotly(out)
    theirs = dash_json.PLOTLY_TO_JSON(out)
    assert "</script>" not in ours and "\u2028" not in ours
    assert _times_as_instants(json.loads(ours)) == _times_as_instants(json.loads(theirs))
    x = json.loads(ours)["prices"]["data"][0]["x"]
    assert len(x) == len(out["prices"]["data"][0]["x"]) and pd.Timestamp(x[-1]).tz is None  # UTC, as plotly sends


def test_what_neither_can_write_fails_alike():
    for bad in ({1, 2}, [html.Div(), object()]):
        with pytest.raises(TypeError):
            dash_json.PLOTLY_TO_JSON(bad)
        with pytest.raises(TypeError):
            dash_json.to_json_plotly(bad)


def test_pretty_and_the_json_engine_are_plotlys_own():
    value = {"a": [1.5, None], "b": html.Span("s")}
    assert dash_json.to_json_plotly(value, pretty=True) == dash_json.PLOTLY_TO_JSON(value, pretty=True)
    assert dash_json.to_json_plotly(value, engine="json") == dash_json.PLOTLY_TO_JSON(value, engine="json")
