"""Pure builders of page pieces other than figures: symbol cards, table rows, status badges.

Inputs are the DataFrames of ``db.queries`` (columns documented there); outputs are Dash components or
JSON-ready row dicts. No database, no clock (``now`` is passed in), no Dash callbacks.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from app import format as fmt
from app.api_errors import short_error
from app.figures import HEIGHT, empty_figure
from app.pair_facts import PairFacts
from db.symbols import display_symbol, quote_currency

log = logging.getLogger(__name__)

#: Bootstrap colour of each feed / pipeline status.
STATUS_COLOURS = {"ok": "success", "degraded": "warning", "down": "danger"}


def _num(value, digits: int) -> float | None:
    """``value`` rounded for a table cell; None for missing (AG Grid sorts None last)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    return round(float(value), digits)


def _countdown(next_time, now: datetime, live: bool) -> str:
    """The card's next-funding line; a next funding time not after ``now`` (the view's end, or the live clock) is
    no next funding time: its settlement is missing from the data, so it says overdue."""
    if next_time is None or pd.isna(next_time):
        return "next funding: unknown"
    if next_time <= now:
        return f"next funding overdue: due {fmt.utc(next_time)}, no settlement in the data since"
    if live:
        return f"next funding in {fmt.duration(next_time - now)}"
    return f"next funding {fmt.utc(next_time)}"


def symbol_card(snap: pd.Series, facts: PairFacts, mode: str, now: datetime, live: bool) -> dbc.Card:
    """One card of the overview for a ``latest_snapshot`` row: last price and 24 h change, current funding in
    ``mode`` (and the other mode below), trend arrow, countdown to the next funding (``live``: relative to
    ``now``, else the time), and the anomaly status of the shown range (``facts``: :class:`PairFacts` of the
    view's funding series and anomaly counts)."""
    exchange, symbol = snap["exchange"], snap["symbol"]
    rate, interval = snap["funding_rate"], snap["funding_interval_hours"]
    change = snap["change_24h_pct"]
    arrow = facts.trend(exchange, symbol, rate, bool(snap["funding_settled"]))
    count, max_z, max_z_time = facts.anomalies(exchange, symbol)
    other = "annual" if mode == "interval" else "interval"
    kind = "settled" if snap["funding_settled"] else "predicted"
    status = (
        dbc.Badge("no anomaly in range", color="success", className="ap-badge")
        if not count
        else dbc.Badge(
            f"{count} anomal{'y' if count == 1 else 'ies'} · max |z| {max_z:.1f} at {fmt.utc(max_z_time)}",
            color="danger",
            className="ap-badge",
        )
    )
    change_class = "text-success" if change and change > 0 else "text-danger" if change and change < 0 else ""
    return dbc.Card(
        [
            dbc.CardHeader([html.Strong(display_symbol(symbol)), html.Span(f" · {exchange}", className="text-muted")]),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            html.Span(fmt.price(snap["last_price"]), className="ap-price"),
                            html.Span(f" {quote_currency(symbol)}", className="text-muted small"),
                        ]
                    ),
                    html.Div(
                        [
                            html.Span(
                                fmt.pct(change / 100 if pd.notna(change) else None, digits=2), className=change_class
                            ),
                            html.Span(" 24 h", className="text-muted small"),
                        ]
                    ),
                    html.Div(
                        [
                            html.Span(arrow, className="ap-arrow", title="vs previous settled rate"),
                            html.Span(fmt.funding_text(rate, interval, mode), className="ap-funding"),
                            html.Span(f" {kind}", className="text-muted small"),
                        ],
                        className="mt-1",
                    ),
                    html.Div(fmt.funding_text(rate, interval, other), className="text-muted small"),
                    html.Div(_countdown(snap["next_funding_time"], now, live), className="small"),
                    html.Div(status, className="mt-1"),
                ],
            ),
        ],
        className="ap-card",
        id={"type": "overview-card", "pair": f"{exchange}|{symbol}"},
    )


def cards_note(shown: int, total: int, note_id: str) -> html.Div | None:
    """A line saying that only ``shown`` of ``total`` pairs have a card (the comparison table lists every one);
    ``None`` when all have one."""
    if shown >= total:
        return None
    return html.Div(f"{shown} of {total} pairs shown as cards (the first {shown} by exchange and symbol); the table "
                    f"below lists all {total}.", id=note_id, className="text-muted small mt-1")


def comparison_rows(snapshot: pd.DataFrame, facts: PairFacts, now: datetime) -> list[dict]:
    """Rows of the overview's comparison grid (numbers rounded, units in :data:`COMPARISON_COLUMNS` headers and
    the ``quote`` column; ``facts``: :class:`PairFacts` of the view; a next funding time not after ``now``, the
    view's end, shows as overdue)."""
    rows = []
    for _, snap in snapshot.iterrows():
        rate, interval = snap["funding_rate"], snap["funding_interval_hours"]
        annual = fmt.annualise(rate, interval) if pd.notna(rate) and pd.notna(interval) else None
        count, max_z, _ = facts.anomalies(snap["exchange"], snap["symbol"])
        rows.append(
            {
                "symbol": display_symbol(snap["symbol"]), "exchange": snap["exchange"],
                "last_price": _num(snap["last_price"], 8), "quote": quote_currency(snap["symbol"]),
                "change_24h_pct": _num(snap["change_24h_pct"], 3),
                "funding_pct": _num(rate * 100 if pd.notna(rate) else None, 5),
                "funding_bps": _num(rate * 10_000 if pd.notna(rate) else None, 3),
                "annual_pct": _num(annual * 100 if annual is not None else None, 3),
                "interval_h": _num(interval, 2),
                "next_funding": _next_funding_cell(snap["next_funding_time"], now),
                "anomalies": count, "max_abs_z": _num(max_z, 2),
            }
        )  # fmt: skip
    return rows


def _next_funding_cell(next_time, now: datetime) -> str | None:
    if next_time is None or pd.isna(next_time):
        return None
    return f"overdue ({fmt.utc(next_time)})" if next_time <= now else fmt.utc(next_time)


#: Column definitions of the comparison grid: (field, header with unit).
COMPARISON_COLUMNS = (
    ("symbol", "Symbol"), ("exchange", "Exchange"), ("last_price", "Last price"), ("quote", "Quote"),
    ("change_24h_pct", "24 h change (%)"), ("funding_pct", "Funding (% / interval)"), ("funding_bps", "Funding (bp)"),
    ("annual_pct", "Annualised (% / yr)"), ("interval_h", "Interval (h)"), ("next_funding", "Next funding (UTC)"),
    ("anomalies", "Anomalies in range"), ("max_abs_z", "Max |z|"),
)  # fmt: skip

#: Column definitions of the anomalies grid: (field, header with unit[, min width px]); value and centre are
#: shown in the metric's unit for people (:func:`app.format.anomaly_value`), wide enough to read at 1,440 px.
ANOMALY_COLUMNS = (
    ("time", "Time (UTC)"), ("symbol", "Symbol"), ("exchange", "Exchange"), ("metric", "Metric"),
    ("value", "Value", 260), ("centre", "Recent centre", 260), ("z_score", "z"),
    ("abs_z", "|z| (sort: strongest first)", 120), ("method", "Method"), ("threshold", "Threshold |z|"),
    ("window", "Window (obs.)"),
)  # fmt: skip


#: Least width (px) of grid columns by field, wide enough for their longest value at the grid's 14 px font plus
#: AG Grid's cell padding (measured in Chromium: "2026-03-07 08:00:00" 150 px, "overdue (2025-06-24 08:00 UTC)"
#: 215 px, "log_return_1m" 100 px, "binanceusdm" 90 px); other fields :data:`DEFAULT_MIN_WIDTH`.
MIN_WIDTHS = {
    "time": 185, "created": 185, "revoked": 185, "last_signin": 185, "day": 120, "next_funding": 245,
    "exchange": 135, "symbol": 125, "metric": 150, "labels": 220, "method": 110, "last_price": 120,
}  # fmt: skip
DEFAULT_MIN_WIDTH = 105


def grid(grid_id: str, columns, row_data: list[dict] | None = None, height: int | None = 320,
         sort: str = "") -> dag.AgGrid:
    """A sortable, filterable AG Grid with ``columns`` (``(field, header[, least width px])``), ``height`` px tall
    with its own scrollbar, or (``height=None``) as tall as its rows (for short tables such as the comparison).

    Every column is at least its content's width (:data:`MIN_WIDTHS`) and shares what is left of the grid's width
    (``flex``); a narrower screen scrolls the grid sideways instead of cutting values ("2026-03-0…"). No
    size-to-fit call: it ran while the page hid the grid (width 0, AG Grid warning #29) and shrank columns below
    their values. ``sort`` (``field`` ascending, ``-field`` descending; :func:`sort_param`) sorts the rows at
    start."""
    field, order = sort.lstrip("-"), "desc" if sort.startswith("-") else "asc"
    return dag.AgGrid(
        id=grid_id,
        columnDefs=[{"field": c[0], "headerName": c[1],
                     "minWidth": c[2] if len(c) > 2 else MIN_WIDTHS.get(c[0], DEFAULT_MIN_WIDTH),
                     **({"sort": order} if c[0] == field else {})}
                    for c in columns],  # fmt: skip
        rowData=row_data or [],
        defaultColDef={
            "sortable": True,
            "filter": True,
            "resizable": True,
            "flex": 1,
            "wrapHeaderText": True,
            "autoHeaderHeight": True,
        },
        dashGridOptions={
            "animateRows": False,
            "domLayout": "normal" if height else "autoHeight",
            "suppressCellFocus": True,
        },
        className="ap-grid",
        style={"height": f"{height}px" if height else None, "width": "100%"},
    )


def sort_param(raw, columns) -> str:
    """A grid's sort from a link's ``sort`` parameter (``field`` or ``-field``), or ``""`` when it names no column of
    ``columns`` (then the rows keep their order)."""
    text = raw.strip() if isinstance(raw, str) else ""
    return text if text.lstrip("-") in {c[0] for c in columns} else ""


def anomaly_rows_for_grid(anomalies: pd.DataFrame) -> list[dict]:
    """Rows of the anomalies grid (one per observation), newest first: times as ``YYYY-MM-DD HH:MM:SS`` UTC,
    value and centre in the metric's unit for people (:func:`app.format.anomaly_value`), z and |z| to 2 decimals."""
    rows = []
    for rec in anomalies.to_dict("records"):
        hours = rec.get("interval_hours")
        rows.append(
            {
                "time": rec["time"].strftime("%Y-%m-%d %H:%M:%S"), "symbol": display_symbol(rec["symbol"]),
                "exchange": rec["exchange"], "metric": rec["metric"], "method": rec["method"],
                "value": fmt.anomaly_value(rec["metric"], rec["value"], hours),
                "centre": fmt.anomaly_value(rec["metric"], rec["centre"], hours),
                "z_score": round(float(rec["z_score"]), 2), "abs_z": round(abs(float(rec["z_score"])), 2),
                "threshold": rec["threshold"], "window": int(rec["window"]),
            }
        )  # fmt: skip
    return rows


def status_badge(status: str) -> dbc.Badge:
    """A coloured badge for ``ok`` / ``degraded`` / ``down``."""
    return dbc.Badge(status.upper(), color=STATUS_COLOURS.get(status, "secondary"), className="ap-status")


def error_alert(title: str, exc: Exception) -> dbc.Alert:
    """An alert saying what failed (``title``) in generic words, for database errors in callbacks; the error's own
    text (the driver's names hosts, ports and databases) goes to the server log only."""
    log.warning("%s error shown on a page: %s: %s", title.strip(), type(exc).__name__, short_error(exc))
    return dbc.Alert(
        [
            html.Strong(title + ": "),
            f"unavailable ({type(exc).__name__}); the details are in the server log. This page retries by itself.",
        ],
        color="danger",
    )


#: Outputs of :func:`empty_notice` when the range has data: (open, text, button label, button style, anchor).
def graph(graph_id: str, height: int = HEIGHT) -> dcc.Graph:
    """A ``dcc.Graph`` ``height`` px tall that follows its container's width (``responsive=True``: Plotly
    resizes with the window and the figure's own height is ignored), showing "Loading…" until drawn."""
    return dcc.Graph(
        id=graph_id,
        figure=empty_figure("Loading…"),
        responsive=True,
        style={"height": f"{height}px"},
        config={"displaylogo": False},
    )
