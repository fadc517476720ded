"""Callbacks wiring a page's controls to its view store, the URL and the navigation links."""

from __future__ import annotations

from collections.abc import Mapping

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, no_update

from app import inputs
from app.controls.state import CUSTOM, DEFAULT_RANGE
from app.controls.store import date_bounds, state_from_controls, state_to_store
from app.params import utc_time


def register_callbacks(prefix: str, extra: Mapping[str, str] | None = None) -> None:
    """Wire the controls of page ``prefix``: controls -> ``{prefix}-state`` store (and the refresh timer),
    the custom dates <-> preset, the anchor ("Back to now", the empty-range jump), and the URL.

    ``extra`` maps additional :class:`ViewState` field names (``metrics``, ``min_z``) to component ids whose
    ``value`` feeds them. Call once per page at import (Dash's callback registry, no module state here).
    """
    extra = dict(extra or {})
    names = ["exchanges", "symbols", "range", "refresh", "funding"]
    deps = [Input(f"{prefix}-{n}", "value") for n in names]
    deps += [
        Input(f"{prefix}-dates", "start_date"),
        Input(f"{prefix}-dates", "end_date"),
        Input(f"{prefix}-anchor", "data"),
    ]
    deps += [Input(cid, "value") for cid in extra.values()]
    keys = [*names, "start_date", "end_date", "anchor", *extra]

    @callback(
        Output(f"{prefix}-state", "data"),
        Output(f"{prefix}-interval", "interval"),
        Output(f"{prefix}-interval", "disabled"),
        Output(f"{prefix}-live", "style"),
        deps,
        prevent_initial_call=True,  # the layout already holds the initial state (initial_store)
    )
    def _state(*values):
        state = state_from_controls(dict(zip(keys, values, strict=True)))
        hidden = {"display": "none"} if state.live or state.range == CUSTOM else {}
        return state_to_store(state), max(state.refresh, 1) * 1000, not state.refresh, hidden

    @callback(
        Output(f"{prefix}-range", "value"),
        Output(f"{prefix}-anchor", "data"),
        Input(f"{prefix}-dates", "start_date"),
        Input(f"{prefix}-dates", "end_date"),
        Input(f"{prefix}-live", "n_clicks"),
        Input(f"{prefix}-jump", "n_clicks"),
        State(f"{prefix}-range", "value"),
        State(f"{prefix}-newest", "data"),
        prevent_initial_call=True,
    )
    def _range(start_date, end_date, _live, _jump, rng, newest):
        bounds = date_bounds(start_date, end_date)
        newest = inputs.text(newest, "newest") if inputs.time(newest, "newest", utc_time) else None
        trigger = ctx.triggered_id
        if trigger == f"{prefix}-live":
            return (DEFAULT_RANGE if rng == CUSTOM else no_update), None
        if trigger == f"{prefix}-jump":
            if not newest:
                return no_update, no_update
            return (DEFAULT_RANGE if rng == CUSTOM else no_update), newest
        if bounds is not None:
            return CUSTOM, no_update
        return no_update, no_update

    clientside_callback(
        """function (data) {
            if (!data) { return window.dash_clientside.no_update; }
            const url = window.location.pathname + (data.query ? "?" + data.query : "");
            if (url !== window.location.pathname + window.location.search) {
                window.history.replaceState(window.history.state, "", url);
            }
            return data.query;
        }""",
        Output("view-query", "data", allow_duplicate=True),
        Input(f"{prefix}-state", "data"),
        prevent_initial_call="initial_duplicate",
    )


def register_nav_callback() -> None:
    """Keep the navigation links (``{"type": "nav-link", "page": path}``) carrying the current view's query
    string, so switching pages keeps exchanges, symbols and range. Called once by the dashboard."""
    clientside_callback(
        """function (query, ids) {
            return ids.map(function (id) { return id.page + (query ? "?" + query : ""); });
        }""",
        Output({"type": "nav-link", "page": ALL}, "href"),
        Input("view-query", "data"),
        State({"type": "nav-link", "page": ALL}, "id"),
    )
