"""Markets page (``/markets``, issue 8 items 5–9): funding of every coin across venues.

* cross-venue table: one row per coin, one column per venue (annualised funding in %/yr with the venue's own
  interval; the tooltip gives the rate per interval, the interval, predicted or settled and the next funding time),
  the spread max − min, open interest, premium; sortable, searchable (AG Grid quick filter), a least open interest;
  the coin links to the Overview with that coin on every venue;
* arbitrage ranking: per coin the venue pair of largest annualised difference; a selected row draws the settled
  history of its spread over the range;
* heatmap: coins × time buckets of annualised funding (one venue, or every venue weighted by open interest);
* accumulated funding over the range per coin + venue; premium and open interest charts of the chosen coins.

The shared controls choose the venues (exchanges), the range and the coins of the last two charts (symbols); the
least open interest, the heatmap's venue and row order are kept in the URL too (``min_oi``, ``venue``, ``order``).
Snapshots and rankings are as of the range's end. Layout here, callbacks in :mod:`app.markets.callbacks`.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app import controls
from app.components import graph, grid
from app.downloads import chart_download, table_download
from app.markets import callbacks
from app.markets.tables import ACCUMULATED_COLUMNS, ARBITRAGE_COLUMNS, OI_FORMAT, cross_venue_columns
from app.refresh import start_page

dash.register_page(__name__, path="/markets", name="Markets", title="AlphaPulse · Markets", order=1)

P = callbacks.P
callbacks.register_callbacks()

#: Heatmap row orders: (value, label).
ORDER_OPTIONS = (("oi", "by open interest"), ("latest", "by newest bucket"), ("mean", "by mean over the range"),
                 ("coin", "by coin name"))  # fmt: skip


def _filters(state: controls.ViewState) -> html.Div:
    order_options = [{"label": label, "value": value} for value, label in ORDER_OPTIONS]
    if state.order and state.order not in dict(ORDER_OPTIONS):
        order_options.append({"label": f"by column {state.order}", "value": state.order})
    return html.Div(
        [
            html.Div([
                html.Label("Least open interest (USD)", htmlFor=f"{P}-minoi", className="ap-label"),
                dbc.Input(id=f"{P}-minoi", type="number", min=0, step="any", value=state.min_oi or None,
                          placeholder="0", debounce=True, size="sm", style={"width": "9rem"}),
            ], className="ap-refresh-row"),  # fmt: skip
            html.Div([
                html.Label("Search", htmlFor=f"{P}-search", className="ap-label"),
                dbc.Input(id=f"{P}-search", type="search", placeholder="coin or venue", size="sm",
                          style={"width": "10rem"}),
            ], className="ap-refresh-row"),  # fmt: skip
            html.Div([
                html.Label("Heatmap", htmlFor=f"{P}-venue", className="ap-label"),
                dcc.Dropdown(id=f"{P}-venue", options=[{"label": state.venue, "value": state.venue}] if state.venue
                             else [], value=state.venue or None, placeholder="all venues, OI-weighted",
                             className="ap-refresh", style={"minWidth": "12rem"}),
                dcc.Dropdown(id=f"{P}-order", options=order_options, value=state.order or "oi", clearable=False,
                             searchable=False, className="ap-refresh", style={"minWidth": "12rem"}),
            ], className="ap-refresh-row"),  # fmt: skip
        ],
        className="ap-controls-row ap-controls",
    )


def _section(title: str, *children, note: str | None = None) -> list:
    head = [html.H2(title, className="ap-h2")]
    if note:
        head.append(html.Div(note, className="ap-window text-muted"))
    return [*head, *children]


def layout(**query) -> html.Div:
    """The page for the view in ``query`` (URL parameters, :mod:`app.controls`); reads the (cached) symbol list."""
    start = start_page(query)
    cross = grid(f"{P}-cross", (), height=440)
    cross.columnDefs = cross_venue_columns(start.state.exchanges)
    cross.dashGridOptions = {**cross.dashGridOptions, "tooltipShowDelay": 200, "quickFilterText": ""}
    arbitrage = grid(f"{P}-arb", ARBITRAGE_COLUMNS, height=320)
    arbitrage.columnDefs = [{**d, **OI_FORMAT} if d["field"] == "oi_value" else d for d in arbitrage.columnDefs]
    arbitrage.dashGridOptions = {**arbitrage.dashGridOptions, "rowSelection": "single"}
    return html.Div(
        [
            html.H1("Markets: funding across venues", className="ap-title"),
            controls.control_bar(P, start.state, show_funding=False, request=start.request, pickers=start.pickers),
            _filters(start.state),
            html.Div(id=f"{P}-error"),
            html.Div(
                [
                    *_section("Funding across venues", html.Div(id=f"{P}-cross-note", className="ap-window"),
                              table_download(f"{P}-cross"), cross,
                              note="Annualised with each venue's own funding interval (% per year; hover a cell for "
                                   "the rate per interval, the interval, predicted or settled and the next funding "
                                   "time). Positive funding: longs pay shorts. As of the range's end."),
                    *_section("Arbitrage ranking", table_download(f"{P}-arb"), arbitrage,
                              html.Div([graph(f"{P}-spread"), chart_download(f"{P}-spread")], className="ap-panel"),
                              note="Per coin the two venues whose annualised funding differs most: long where funding "
                                   "is lower, short where it is higher. Select a row for the settled history of its "
                                   "spread over the range (default: the top row)."),
                    *_section("Funding heatmap", html.Div([graph(f"{P}-heatmap", 420), chart_download(f"{P}-heatmap")],
                                                          className="ap-panel ap-heatmap"),
                              note="Annualised funding per coin and time bucket (% per year; red: longs pay shorts, "
                                   "blue: shorts pay longs; the colour scale ends at the 98th percentile of |value|). "
                                   "Click a cell to order the rows by its column."),
                    *_section("Accumulated funding over the range", table_download(f"{P}-acc"),
                              grid(f"{P}-acc", ACCUMULATED_COLUMNS, height=320),
                              note="Sum of the settled rates in the range: what holding 1 unit long paid, in % of "
                                   "the position (positive: longs paid shorts; negative: shorts paid longs), "
                                   "comparable across 1 h, 4 h and 8 h venues."),
                    *_section("Premium and open interest of the chosen coins",
                              html.Div([graph(f"{P}-premium"), chart_download(f"{P}-premium")], className="ap-panel"),
                              html.Div([graph(f"{P}-oi"), chart_download(f"{P}-oi")], className="ap-panel"),
                              note="Coins of the symbols chosen above, on every chosen venue. Premium (basis) = "
                                   "(mark − index) / index in bp; open interest in quote value."),
                ],
                id=f"{P}-content",
            ),
        ],
        className="ap-page",
    )
