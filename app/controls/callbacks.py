"""Callbacks wiring a page's controls to its view store, the URL and the navigation links."""

from __future__ import annotations

from collections.abc import Mapping

from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, no_update

from app import inputs
from app.controls.components import DATES_HINT
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
        Output(f"{prefix}-dates-hint", "children"),
        Output(f"{prefix}-dates", "className"),
        deps,
        prevent_initial_call=True,  # the layout already holds the initial state (initial_store)
    )
    def _state(*values):
        chosen = dict(zip(keys, values, strict=True))
        state = state_from_controls(chosen)
        hidden = {"display": "none"} if state.live or state.range == CUSTOM else {}
        # "custom" without dates shows the default range: say so beside the picker and mark it (issue 11, item 14)
        waiting = chosen["range"] == CUSTOM and state.range != CUSTOM
        hint, dates_class = (DATES_HINT, "ap-dates ap-dates-pending") if waiting else ("", "ap-dates")
        return state_to_store(state), max(state.refresh, 1) * 1000, not state.refresh, hidden, hint, dates_class

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
            const sort = new URLSearchParams(window.location.search).get("sort");  // the table's, not the view's
            const query = [data.query, sort ? "sort=" + encodeURIComponent(sort) : ""].filter(Boolean).join("&");
            const url = window.location.pathname + (query ? "?" + query : "");
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


def register_sort_link(grid_id: str) -> None:
    """Keep grid ``grid_id``'s sort in the link (``sort=field`` ascending, ``sort=-field`` descending; issue 11,
    item 15: the comparison table's sort was lost), read back by the page layout (``app.components.sort_param``).
    The sort belongs to the table, not to the view: it changes the link only, never the view store, so sorting
    redraws nothing. The page holds a ``dcc.Store`` ``{grid_id}-sort`` that receives the sort."""
    clientside_callback(
        """function (columns) {
            const sorted = (columns || []).find(c => c.sort === "asc" || c.sort === "desc");
            const params = new URLSearchParams(window.location.search);
            if (sorted) { params.set("sort", (sorted.sort === "desc" ? "-" : "") + sorted.colId); }
            else { params.delete("sort"); }
            const query = params.toString().replace(/%2F/g, "/").replace(/%2C/g, ",").replace(/%3A/g, ":");
            const url = window.location.pathname + (query ? "?" + query : "");
            window.history.replaceState(window.history.state, "", url);
            return params.get("sort") || "";
        }""",
        Output(f"{grid_id}-sort", "data"),
        Input(grid_id, "columnState"),
        prevent_initial_call=True,
    )
