"""The Markets page's draw as dash-renderer posts it (Flask's test client, real TimescaleDB and Redis) on the bundled
history: the chosen coins' premium and open-interest charts are read beside the snapshot (issue 10), and a live
view without live data, which falls back to the newest period with funding, charts them over the period shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app import create_app, with_database
from app.dashboard import build_dash
from settings import get_settings
from tests.dash_requests import callback_body, find_output, post_callback

#: Output ids of the draw's pair charts.
PREMIUM, OPEN_INTEREST = "markets-premium", "markets-oi"


def _props(node, ident: str) -> dict | None:
    """The props of the component with id ``ident`` in a Dash layout JSON tree, or None."""
    if isinstance(node, dict):
        if isinstance(node.get("props"), dict) and node["props"].get("id") == ident:
            return node["props"]
        node = list(node.values())
    if isinstance(node, list):
        return next((found for child in node if (found := _props(child, ident)) is not None), None)
    return None


def _draw(dash_app, client, query: str) -> dict:
    """``{output id: {property: value}}`` of the Markets draw for ``/markets{query}``, as its page opens it."""
    client.get(f"/markets{query}")
    pages = callback_body(dash_app, find_output(dash_app, "_pages_content.children"), ["/markets", query])
    content = post_callback(client, pages).get_json()["response"]
    draw = find_output(dash_app, "markets-cross.rowData")
    response = post_callback(client, callback_body(dash_app, draw, [_props(content, "markets-fp")["data"], None]))
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["response"]


def _traces(figure: dict) -> list[tuple]:
    return [(t.get("name"), tuple(t["x"]), tuple(t["y"])) for t in figure["data"]]


def _notes(figure: dict) -> list[str]:
    return [a["text"] for a in figure.get("layout", {}).get("annotations", [])]


def test_a_live_view_without_data_charts_the_chosen_coins_over_the_period_shown(recorded_db_url, redis_prefix):
    settings = replace(with_database(get_settings(), recorded_db_url), redis_prefix=redis_prefix)
    dash_app = build_dash(create_app(settings, with_dashboard=False), settings)
    client = dash_app.server.test_client()
    live = _draw(dash_app, client, "?symbols=BTC/USDT&range=7d")
    assert live["markets-empty"]["is_open"] is True  # the fallback notice: no live data, the newest period shown
    shown_end = datetime.fromisoformat(live["markets-newest"]["data"])
    shown = _draw(dash_app, client, f"?symbols=BTC/USDT&range=7d&end={shown_end.strftime('%Y-%m-%dT%H:%MZ')}")
    assert shown["markets-empty"]["is_open"] is False
    drawn = _traces(live[OPEN_INTEREST]["figure"])
    assert drawn and all(len(x) > 10 for _, x, _ in drawn)  # the period shown has open interest
    for chart in (PREMIUM, OPEN_INTEREST):  # those of the anchored view of that period (the bundled history has
        # no mark and index prices there: the premium chart says so in both)
        assert _traces(live[chart]["figure"]) == _traces(shown[chart]["figure"]), chart
        assert _notes(live[chart]["figure"]) == _notes(shown[chart]["figure"]), chart
