"""Anomalies page (``/anomalies``): z-score anomalies of the selection over time and a table of the newest.

Scatter: x = time (UTC), y = z-score, marker size and colour by |z|, one marker shape per metric; hover shows
value, centre, spread (in the metric's unit), z and method. Filters: the shared controls (exchanges, symbols,
range) plus metric and minimum |z|, all kept in the URL (``metric=…&min_z=…``). Redraws only when the
fingerprint (newest anomaly / data time) changes, like the overview (:mod:`app.refresh`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import controls
from app.components import (
    ANOMALY_COLUMNS,
    anomaly_rows_for_grid,
    error_alert,
    graph,
    grid,
)
from app.dashboard import read_connection
from app.downloads import chart_download, register_chart_download, register_table_download, table_download
from app.figures import anomaly_scatter, empty_figure
from app.notices import EMPTY_NOTICE_CLOSED, anomaly_notice, empty_notice, fallback_notice, jump_anchor
from app.refresh import cached_view, register_refresh, resolve, selection, start_page
from app.theme import STORE_ID, themed_outputs
from db import queries

dash.register_page(__name__, path="/anomalies", name="Anomalies", title="AlphaPulse · Anomalies", order=1)

P = "anomalies"

#: Metrics ingest flags (``anomalies.metric``): (what it is, unit of value / centre / spread).
METRICS = {
    "funding_rate": ("funding rate", "fraction per funding interval"),
    "log_return_1m": ("1-min log return", "natural log"),
    "log_volume_1m": ("1-min log volume", "natural log of base-asset units"),
    "premium": ("premium (mark − index) / index", "fraction"),
}

#: Most anomalies drawn and listed (the newest ones; the page says when there are more).
MAX_ROWS = 1000


def _filters(state: controls.ViewState) -> html.Div:
    return html.Div(
        [
            dcc.Dropdown(
                id=f"{P}-metrics",
                options=[{"label": f"{label} ({unit})", "value": name} for name, (label, unit) in METRICS.items()],
                value=list(state.metrics),
                multi=True,
                placeholder="All metrics",
                className="ap-dropdown",
            ),
            html.Div(
                [
                    html.Label("min |z|", htmlFor=f"{P}-minz", className="ap-label"),
                    dbc.Input(
                        id=f"{P}-minz",
                        type="number",
                        min=0,
                        max=999,
                        step=0.5,
                        value=state.min_z or None,
                        placeholder="0",
                        debounce=True,
                        size="sm",
                        style={"width": "6rem"},
                    ),
                ],
                className="ap-refresh-row",
            ),
        ],
        className="ap-controls-row ap-controls",
    )


def layout(**query) -> html.Div:
    """The page for the view in ``query`` (URL parameters, see :mod:`app.controls`); reads the symbol list."""
    start = start_page(query)
    return html.Div(
        [
            html.H1("Anomalies", className="ap-title"),
            controls.control_bar(P, start.state, show_funding=False, request=start.request, pickers=start.pickers),
            _filters(start.state),
            html.Div(id=f"{P}-error"),
            html.Div(
                [
                    html.Div(id=f"{P}-summary", className="ap-window text-muted"),
                    html.Div([graph(f"{P}-scatter", 420), chart_download(f"{P}-scatter")], className="ap-panel"),
                    html.H2("Recent anomalies (newest first; sort by |z| for the strongest)", className="ap-h2"),
                    html.Div(
                        "Value and centre: funding in % and bp per interval and annualised, 1-min returns in %, "
                        "1-min volume in base units, premium in bp.",
                        className="ap-window text-muted",
                    ),
                    table_download(f"{P}-table"),
                    grid(f"{P}-table", ANOMALY_COLUMNS, height=420),
                ],
                id=f"{P}-content",
            ),
        ],
        className="ap-page",
    )


controls.register_callbacks(P, extra={"metrics": f"{P}-metrics", "min_z": f"{P}-minz"})
register_chart_download(f"{P}-scatter", "alphapulse-anomalies-chart")
register_table_download(f"{P}-table", "alphapulse-anomalies")
BASELINE = register_refresh(P)

DRAW_OUTPUTS = {
    "scatter": Output(f"{P}-scatter", "figure"),
    "rows": Output(f"{P}-table", "rowData"),
    "summary": Output(f"{P}-summary", "children"),
    "content": Output(f"{P}-content", "style"),
    "window": Output(f"{P}-window", "children"),
    "notice": (
        Output(f"{P}-empty", "is_open"),
        Output(f"{P}-empty-text", "children"),
        Output(f"{P}-jump", "children"),
        Output(f"{P}-jump", "style"),
        Output(f"{P}-newest", "data"),
    ),
    "error": Output(f"{P}-error", "children"),
    "drawn": Output(f"{P}-drawn", "data"),
}


@callback(output=DRAW_OUTPUTS, inputs={"fp": Input(f"{P}-fp", "data"), "theme": Input(STORE_ID, "data")})
def _draw(fp, theme):
    return themed_outputs(BASELINE.with_draw(fp, lambda: _draw_view(fp)), theme, ("scatter",))


def _draw_view(fp):
    if not fp:
        raise PreventUpdate
    state, start, end, bucket = resolve(fp)
    out = {
        "window": controls.window_text(start, end, bucket, state.live),
        "notice": EMPTY_NOTICE_CLOSED,
        "error": None,
        "content": {},
        "summary": "",
    }
    if not state.symbols:
        return {**out, "scatter": empty_figure("Choose at least one symbol."), "rows": []}

    try:
        rows, extent, newest = cached_view(P, state, start, end, lambda: _query(state, start, end), state.metrics,
                                           state.min_z, fp.get("fp"))  # fmt: skip
        if rows.empty and newest is not None and state.live:  # nothing live: show the newest match (item 2)
            live_window = (start, end)
            shown = dataclasses.replace(state, end=datetime.fromisoformat(jump_anchor(newest)))
            start, end = shown.window(datetime.fromisoformat(fp["now"]))
            rows = cached_view(P, shown, start, end, lambda: _query(shown, start, end), state.metrics,
                               state.min_z)[0]  # fmt: skip
            out["notice"] = fallback_notice(state, *live_window, end, "anomalies matching these filters")
            out["window"] = controls.window_text(start, end, queries.choose_bucket(start, end), False)
    except SQLAlchemyError as exc:
        return {
            **out,
            "scatter": empty_figure("Database unreachable"),
            "rows": [],
            "error": error_alert("Database", exc),
        }
    if rows.empty:
        if newest is not None:
            notice = anomaly_notice(state, start, end, newest)
            return {**out, "scatter": empty_figure("No anomalies match these filters in this range"), "rows": [],
                    "notice": notice}  # fmt: skip
        if extent is None or not (extent[0] < end and extent[1] >= start):
            notice = empty_notice(state, start, end, extent)
            return {**out, "scatter": dash.no_update, "rows": [], "content": {"display": "none"}, "notice": notice}
        return {**out, "scatter": empty_figure("No anomalies match these filters"), "rows": []}
    more = ""
    if len(rows) == MAX_ROWS:
        more = f" (the newest {MAX_ROWS:,}; narrow the range or raise min |z| to see older ones)"
    summary = f"{len(rows):,} anomalies{more}."
    return {
        **out,
        "scatter": anomaly_scatter(rows, fp["query"], (start, end)),
        "rows": anomaly_rows_for_grid(rows),
        "summary": summary,
    }


def _query(state, start: datetime, end: datetime) -> tuple:
    """``(rows, extent, newest)`` of the view's window: its anomaly rows (newest first, at most ``MAX_ROWS``),
    and when there are none the selection's data extent and the time of the newest matching anomaly at any time
    (``db.queries.newest_anomaly_time``; None when nothing matches)."""
    with read_connection() as conn:
        exchanges, symbols = selection(conn, state)
        metrics = list(state.metrics) or None
        rows = queries.anomaly_rows(conn, exchanges, symbols, start, end, metrics=metrics, min_abs_z=state.min_z,
                                    limit=MAX_ROWS)  # fmt: skip
        if not rows.empty:
            return rows, None, None
        newest = queries.newest_anomaly_time(conn, exchanges, symbols, metrics, state.min_z)
        return rows, queries.data_extent(conn, exchanges, symbols), newest
