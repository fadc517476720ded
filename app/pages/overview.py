"""Overview page (``/``): a card per selected symbol, a sortable comparison table, the funding-rate chart and
the price chart, anomalies overlaid on both.

Two callbacks keep it live without needless redraws: the fingerprint check of :mod:`app.refresh` (on every
control change and auto-refresh tick; writes ``overview-fp`` only when newer data arrived or the view changed)
and ``_draw`` (on ``overview-fp``), which queries the bucketed series (``time_bucket`` in the database, at most
~1,500 points per trace) and builds everything. Figures keep the user's zoom across redraws through
``uirevision`` (the view's query string).

An empty range says so and offers one button to the newest period with data (``overview-jump``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import controls
from app.components import (
    COMPARISON_COLUMNS,
    cards_note,
    comparison_rows,
    error_alert,
    graph,
    grid,
    sort_param,
    symbol_card,
)
from app.dashboard import read_connection
from app.downloads import chart_download, register_chart_download, register_table_download, table_download
from app.figures import MAX_MARKERS, empty_figure, funding_basis, funding_figure, price_figure
from app.figures.heatmap import heatmap_figure, series_frame
from app.notices import EMPTY_NOTICE_CLOSED, empty_notice, fallback_notice, jump_anchor
from app.pair_facts import PairFacts
from app.reads import read_all
from app.refresh import cached_output, cached_view, register_refresh, resolve, selection, start_page
from app.theme import STORE_ID, themed_outputs
from db import queries

dash.register_page(__name__, path="/", name="Overview", title="AlphaPulse · Overview", order=0)

P = "overview"

#: Most cards drawn at once (the table always lists every pair).
MAX_CARDS = 12
#: Most funding series drawn as lines; more are drawn as a heatmap (15 lines were unreadable, issue 8).
HEATMAP_SERIES = 10


def layout(**query) -> html.Div:
    """The page for the view in ``query`` (URL parameters, see :mod:`app.controls`); reads the symbol list."""
    start = start_page(query)
    return html.Div(
        [
            html.H1("Funding and prices", className="ap-title"),
            controls.control_bar(P, start.state, request=start.request, pickers=start.pickers),
            html.Div(id=f"{P}-error"),
            html.Div(
                [
                    html.Div(id=f"{P}-cards", className="ap-cards"),
                    html.H2("Funding rate", className="ap-h2"),
                    html.Div([graph(f"{P}-funding-chart"), chart_download(f"{P}-funding-chart")], className="ap-panel"),
                    html.H2("Price", className="ap-h2"),
                    html.Div([graph(f"{P}-price-chart"), chart_download(f"{P}-price-chart")], className="ap-panel"),
                    html.H2("Comparison of the selected symbols", className="ap-h2"),
                    table_download(f"{P}-table"),
                    grid(f"{P}-table", COMPARISON_COLUMNS, height=None,
                         sort=sort_param(query.get("sort"), COMPARISON_COLUMNS)),
                    dcc.Store(id=f"{P}-table-sort"),
                ],
                id=f"{P}-content",
            ),
        ],
        className="ap-page",
    )


controls.register_callbacks(P)
controls.register_sort_link(f"{P}-table")
register_chart_download(f"{P}-funding-chart", "alphapulse-funding")
register_chart_download(f"{P}-price-chart", "alphapulse-prices")
register_table_download(f"{P}-table", "alphapulse-comparison")


BASELINE = register_refresh(P)


DRAW_OUTPUTS = {
    "cards": Output(f"{P}-cards", "children"),
    "rows": Output(f"{P}-table", "rowData"),
    "funding": Output(f"{P}-funding-chart", "figure"),
    "prices": Output(f"{P}-price-chart", "figure"),
    "content": Output(f"{P}-content", "style"),
    "window": Output(f"{P}-window", "children"),
    "basis": Output(f"{P}-funding-note", "children"),
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

HIDDEN = {"display": "none"}


@callback(output=DRAW_OUTPUTS, inputs={"fp": Input(f"{P}-fp", "data"), "theme": Input(STORE_ID, "data")})
def _draw(fp, theme):
    return themed_outputs(BASELINE.with_draw(fp, lambda: _draw_view(fp)), theme, ("funding", "prices"))


def _draw_view(fp):
    if not fp:
        raise PreventUpdate
    state, start, end, bucket = resolve(fp)
    out = {
        "window": controls.window_text(start, end, bucket, state.live),
        "notice": EMPTY_NOTICE_CLOSED,
        "error": None,
        "content": {},
        "basis": "",
    }
    if not state.symbols:
        blank = empty_figure("Choose at least one symbol.")
        return {**out, "cards": [], "rows": [], "funding": blank, "prices": blank}

    try:
        data = cached_view(P, state, start, end, lambda: _query(state, start, end, bucket), bucket, fp.get("fp"))
    except SQLAlchemyError as exc:
        blank = empty_figure("Database unreachable")
        return {
            **out,
            "cards": [],
            "rows": [],
            "funding": blank,
            "prices": blank,
            "error": error_alert("Database", exc),
        }
    if data["empty"] and state.live and data["newest"] is not None:
        return _fallback(state, (start, end), data["newest"], fp, out)
    if data["empty"]:
        return {
            **out,
            "cards": [],
            "rows": [],
            "funding": no_update,
            "prices": no_update,
            "content": HIDDEN,
            "notice": empty_notice(state, start, end, data["extent"], data["newest"]),
        }
    cards, rows, funding, prices, basis = _built(state, (start, end), bucket, data, fp)
    return {**out, "cards": cards, "rows": rows, "funding": funding, "prices": prices, "basis": basis}


def _fallback(state, live_window, newest, fp, out: dict) -> dict:
    """A live view without data in its window: draw the same length up to ``newest`` (where funding and candles
    both have data, ``db.queries.newest_common_time``) and say so (issue 11, item 2). The refresh check keeps
    fingerprinting the live window, so the page returns to live data by itself when rows arrive."""
    shown = dataclasses.replace(state, end=datetime.fromisoformat(jump_anchor(newest)))
    start, end = shown.window(datetime.fromisoformat(fp["now"]))
    bucket = queries.choose_bucket(start, end)
    data = cached_view(P, shown, start, end, lambda: _query(shown, start, end, bucket), bucket)
    if data["empty"]:  # the catalogue and the rows disagree (rows removed since): say what the live window lacks
        return {**out, "cards": [], "rows": [], "funding": no_update, "prices": no_update, "content": HIDDEN,
                "notice": empty_notice(state, *live_window, data["extent"])}  # fmt: skip
    cards, rows, funding, prices, basis = _built(shown, (start, end), bucket, data, fp)
    notice = fallback_notice(state, *live_window, end, "funding and candles")
    return {
        **out,
        "window": controls.window_text(start, end, bucket, False),
        "notice": notice,
        "cards": cards, "rows": rows, "funding": funding, "prices": prices, "basis": basis,
    }  # fmt: skip


def _query(state: controls.ViewState, start: datetime, end: datetime, bucket: timedelta) -> dict:
    """The view's rows, read at once on separate connections (:func:`app.reads.read_all`): the series, then the
    anomalies and the snapshot; a window without funding and candles (nothing drawn: the page falls back or says
    so) reads where data is instead of anomalies and the snapshot (``counts``, ``marks`` and ``snapshot`` None)."""
    with read_connection() as conn:
        exchanges, symbols = selection(conn, state)
    window = (exchanges, symbols, start, end)
    series = read_all({"funding": lambda c: queries.funding_series(c, *window, bucket),
                       "prices": lambda c: queries.price_series(c, *window, bucket)})  # fmt: skip
    if series["funding"].empty and series["prices"].empty:
        where = read_all({"extent": lambda c: queries.data_extent(c, exchanges, symbols),
                          "newest": lambda c: queries.newest_common_time(c, exchanges, symbols)})  # fmt: skip
        return {**series, "counts": None, "marks": None, "empty": True, "snapshot": None, **where}
    more = read_all({  # chart markers: the strongest only; the totals come from the counts
        "funding": lambda c: queries.anomaly_rows(c, *window, metrics=["funding_rate"], limit=MAX_MARKERS,
                                                  strongest=True),
        "prices": lambda c: queries.anomaly_rows(c, *window, limit=MAX_MARKERS, strongest=True),
        "counts": lambda c: queries.anomaly_counts(c, *window),
        "snapshot": lambda c: queries.latest_snapshot(c, exchanges, symbols, end),
    })  # fmt: skip
    marks = {"funding": more["funding"], "prices": more["prices"]}
    return {**series, "counts": more["counts"], "marks": marks, "empty": False, "snapshot": more["snapshot"],
            "extent": None, "newest": None}  # fmt: skip


def _built(state, window, bucket, data: dict, fp: dict):
    """:func:`_content` through the shared cache (:func:`app.refresh.cached_output`): keyed by the window, the
    bucket, the draw request's query (every control: funding basis, metrics…) and the fingerprint the data was
    read for."""
    return cached_output(P, state, *window, lambda: _content(state, window, bucket, data, fp), bucket,
                         fp["query"], fp.get("fp"))  # fmt: skip


def _content(state, window, bucket, data: dict, fp: dict):
    """(cards, table rows, funding figure, price figure, funding basis note) of a view with data; both charts
    span ``window`` (the view's ``(start, end)``)."""
    rev, end = fp["query"], window[1]
    funding, prices, counts, marks = data["funding"], data["prices"], data["counts"], data["marks"]
    live_now = datetime.fromisoformat(fp["now"])
    snapshot = data["snapshot"]
    snapshot = snapshot[snapshot["last_price"].notna() | snapshot["funding_rate"].notna()]
    mode, basis = funding_basis(state.funding, funding)
    facts = PairFacts(funding, counts)
    cards = [
        dbc.Col(
            symbol_card(row, facts, mode, live_now if state.live else end, state.live),
            xs=12,
            sm=6,
            lg=4,
            xl=3,
        )
        for _, row in snapshot.head(MAX_CARDS).iterrows()
    ]
    funding_total = int(counts.loc[counts["metric"] == "funding_rate", "anomalies"].sum())
    series = funding.groupby(["exchange", "symbol"]).ngroups if not funding.empty else 0
    if series > HEATMAP_SERIES:  # one line per series is unreadable: a row per series instead (issue 8, item 7)
        fund_fig = heatmap_figure(series_frame(funding), f"funding of {series} series", rev, "coin", None, window,
                                  row_title="Series")
        basis = f"{series} series: drawn as a heatmap of annualised funding (more than {HEATMAP_SERIES} lines)."
    else:
        fund_fig = (
            funding_figure(funding, mode, bucket, rev, marks["funding"], funding_total, window)
            if not funding.empty
            else empty_figure("No funding rates in this range")
        )
    price_fig = (
        price_figure(prices, bucket, rev, marks["prices"], int(counts["anomalies"].sum()), window)
        if not prices.empty
        else empty_figure("No prices in this range")
    )
    rows = comparison_rows(snapshot, facts, live_now if state.live else end)
    note = cards_note(len(cards), len(snapshot), f"{P}-cards-note")
    return [dbc.Row(cards, className="g-2"), note], rows, fund_fig, price_fig, basis

