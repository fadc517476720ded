"""Callbacks of the Markets page (:mod:`app.pages.markets`): the view's controls and refresh (shared with every page,
:mod:`app.controls`, :mod:`app.refresh`), the draw, the spread history of the selected ranking row, the quick
filter, the heatmap's column order and the CSV downloads.

The draw reads through :mod:`app.markets.data` (shared cache) and keeps what it builds of a view that is not live
in the shared cache too (:func:`app.refresh.cached_output`). A view whose range holds no funding snapshot (a live
view while only older history is stored) shows the same range length up to the newest funding time instead and
says so (:func:`app.notices.fallback_notice`), like the Overview.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime

from dash import Input, Output, Patch, State, callback, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from app import controls, inputs
from app.components import error_alert
from app.downloads import register_chart_download, register_table_download
from app.figures import empty_figure
from app.figures.heatmap import heatmap_figure
from app.figures.markets import pair_figure, spread_figure
from app.markets import data
from app.markets.tables import (
    TOP_COINS,
    accumulated_rows,
    arbitrage_rows,
    cross_venue_columns,
    cross_venue_rows,
    overview_link,
)
from app.notices import EMPTY_NOTICE_CLOSED, empty_notice, fallback_notice, jump_anchor
from app.reads import alongside
from app.refresh import Baseline, cached_output, register_refresh, resolve
from app.theme import STORE_ID, themed_outputs

P = "markets"

DRAW_OUTPUTS = {
    "cross": Output(f"{P}-cross", "rowData"), "cross_columns": Output(f"{P}-cross", "columnDefs"),
    "cross_note": Output(f"{P}-cross-note", "children"), "arb": Output(f"{P}-arb", "rowData"),
    "heatmap": Output(f"{P}-heatmap", "figure"), "acc": Output(f"{P}-acc", "rowData"),
    "premium": Output(f"{P}-premium", "figure"), "oi": Output(f"{P}-oi", "figure"),
    "content": Output(f"{P}-content", "style"), "window": Output(f"{P}-window", "children"),
    "notice": (Output(f"{P}-empty", "is_open"), Output(f"{P}-empty-text", "children"), Output(f"{P}-jump", "children"),
               Output(f"{P}-jump", "style"), Output(f"{P}-newest", "data")),
    "error": Output(f"{P}-error", "children"), "venues": Output(f"{P}-venue", "options"),
    "drawn": Output(f"{P}-drawn", "data"),
}  # fmt: skip
FIGURES = ("heatmap", "premium", "oi")


def _draw(fp, theme, baseline: Baseline):
    return themed_outputs(baseline.with_draw(fp, lambda: _draw_view(fp)), theme, FIGURES)


def _draw_view(fp) -> dict:
    if not fp:
        raise PreventUpdate
    state, start, end, _ = resolve(fp)
    out = {"window": controls.window_text(start, end, data.heatmap_bucket(start, end), state.live),
           "notice": EMPTY_NOTICE_CLOSED, "error": None, "content": {}, "venues": no_update}  # fmt: skip
    try:  # the chosen coins' series do not depend on the snapshot: read beside it
        window = (start, end)
        now, pairs = alongside(lambda: data.pair_view(state, start, end, fp.get("fp")),
                               lambda: data.market_view(state, start, end, fp.get("fp")))  # fmt: skip
        if now["snapshot"].empty and now["newest"] is not None:
            shown = dataclasses.replace(state, range=state.range if state.range != controls.CUSTOM
                                        else controls.DEFAULT_RANGE, end=datetime.fromisoformat(
                                            jump_anchor(now["newest"])), start=None)  # fmt: skip
            start, end = shown.window(datetime.fromisoformat(fp["now"]))
            state, now = shown, data.market_view(shown, start, end, None)
            out["notice"] = fallback_notice(state, *window, end, "funding")
            out["window"] = controls.window_text(start, end, data.heatmap_bucket(start, end), False)
        if now["snapshot"].empty:
            return _empty(out, state, start, end)
        if (start, end) != window:  # a fallback: the pairs of the window shown
            pairs = data.pair_view(state, start, end, None)
        return {**out, **cached_output(P, state, start, end, lambda: _content(state, start, end, now, pairs, fp),
                                       fp["query"], fp.get("fp"))}  # fmt: skip
    except SQLAlchemyError as exc:
        blank = empty_figure("Database unreachable")
        return {**out, "cross": [], "cross_columns": no_update, "cross_note": "", "arb": [], "acc": [],
                "heatmap": blank, "premium": blank, "oi": blank, "error": error_alert("Database", exc)}  # fmt: skip


def _empty(out: dict, state, start, end) -> dict:
    notice = empty_notice(state, start, end, None)
    return {**out, "cross": [], "cross_columns": no_update, "cross_note": "", "arb": [], "acc": [],
            "heatmap": no_update, "premium": no_update, "oi": no_update, "content": {"display": "none"},
            "notice": notice}  # fmt: skip


def _content(state, start, end, now: dict, pairs: dict, fp: dict) -> dict:
    snapshot = now["snapshot"]
    venues = list(state.exchanges) or sorted(snapshot["exchange"].unique())
    link = lambda coin, symbols: overview_link(state, symbols)  # noqa: E731
    rows, total = cross_venue_rows(snapshot, venues, link, state.min_oi)
    coins, arb = [r["coin"] for r in rows], arbitrage_rows(now["spreads"])
    coin_series, _ = alongside(_first_spread(fp, (start, end), arb),
                               lambda: data.window_view(state, start, end, coins, fp.get("fp")) if coins else None)
    series = {**coin_series, **pairs} if coin_series else None
    rev = fp["query"]
    open_interest = {r["coin"]: r["oi_value"] for r in rows if r["oi_value"] is not None}
    heat = series["heatmap"] if series else None
    title = f"funding on {state.venue}" if state.venue else "funding, venues weighted by open interest"
    return {
        "venues": [{"label": v, "value": v} for v in sorted(set(snapshot["exchange"]) | {state.venue} - {""})],
        "cross": rows, "cross_columns": cross_venue_columns(venues), "arb": arb,
        "cross_note": _cross_note(len(rows), total, state.min_oi),
        "heatmap": heatmap_figure(heat, title, rev, state.order or "oi", open_interest, (start, end))
        if heat is not None and not heat.empty else empty_figure("No settled funding of these coins in this range"),
        "acc": accumulated_rows(series["accumulated"]) if series else [],
        "premium": _pair_chart(series, "premium", "premium_bp", rev, (start, end)),
        "oi": _pair_chart(series, "open_interest", "open_interest_value", rev, (start, end)),
    }  # fmt: skip


def _first_spread(fp: dict, window: tuple, arb: list[dict]) -> Callable[[], None]:
    """Reads the spread history the spread chart opens on (the ranking's top row, :func:`_spread` with no row
    selected) into the shared cache (``data.spread_view``), to run beside the draw's window reads: the chart's
    callback, fired once the ranking is drawn, then finds it. Nothing when the page shows another window than the
    request's (a fallback: the chart reads the request's) or the database fails (the chart's callback says so)."""

    def read() -> None:
        state, start, end, _ = resolve(fp)
        if arb and (start, end) == window:
            with suppress(SQLAlchemyError):
                data.spread_view(state, start, end, tuple(arb[0]["pair"].split("|")))

    return read


def _pair_chart(series: dict | None, key: str, column: str, rev: str, window) -> dict:
    frame = series[key] if series else None
    if frame is None:
        return empty_figure("Choose symbols above to chart their coins")
    frame = frame.dropna(subset=[column])
    if frame.empty:
        what = "premium (mark and index prices)" if key == "premium" else "open interest"
        return empty_figure(f"No {what} of the chosen coins in this range")
    return pair_figure(frame, column, series["bucket"], rev, window)


def _cross_note(shown: int, total: int, min_oi: float) -> str:
    least = f" with open interest of at least {min_oi:,.0f}" if min_oi else ""
    if shown < total:
        return f"The {shown} coins of largest open interest of {total}{least} (at most {TOP_COINS} are listed)."
    return f"{total} coins{least}."


def _spread(selected, rows, theme, fp):
    if not fp:
        raise PreventUpdate
    state, start, end, _ = resolve(fp)
    chosen = selected or rows
    if not chosen:
        return themed_outputs({"f": empty_figure("No coin is quoted on two venues")}, theme, ("f",))["f"]
    if not isinstance(chosen, list):
        raise inputs.InputError("ranking rows must be a list")
    pair = tuple(inputs.text(inputs.mapping(chosen[0], "ranking row", ("pair",))["pair"], "pair",
                             optional=False).split("|"))  # fmt: skip
    if len(pair) != 3:
        raise inputs.InputError("pair must be coin|long exchange|short exchange")
    try:
        history = data.spread_view(state, start, end, pair)
    except SQLAlchemyError:
        return empty_figure("Database unreachable")
    figure = (spread_figure(history, *pair, f"{fp['query']}|{'|'.join(pair)}", (start, end)) if not history.empty
              else empty_figure(f"No settled funding of {pair[0]} on both {pair[1]} and {pair[2]} in this range"))
    return themed_outputs({"f": figure}, theme, ("f",))["f"]


def _search(text):
    patch = Patch()
    patch["quickFilterText"] = inputs.text(text, "search") or ""
    return patch


def _order_by_column(click, options):
    points = inputs.mapping(click, "click", ("points",))["points"] if click else None
    if not points or not isinstance(points, list) or not isinstance(points[0], dict):
        raise PreventUpdate
    value = controls.format_time(controls.parse_time(inputs.text(points[0].get("x"), "x", optional=False), "x"))
    options = [o for o in inputs.options(options, "order options") if ":" not in str(o["value"])]
    return [*options, {"label": f"by column {value}", "value": value}], value


def register_callbacks() -> None:
    """Register every callback of the page with Dash. :mod:`app.pages.markets` calls it each time Dash executes the
    page module: a Dash build takes the callbacks registered since the previous one, so callbacks registered once at
    import would reach only the first app of a process (tests build several)."""
    controls.register_callbacks(P, extra={"min_oi": f"{P}-minoi", "venue": f"{P}-venue", "order": f"{P}-order"})
    baseline = register_refresh(P, tables=("funding_rates",), extra=lambda conn, _now: str(data.newest_funding(conn)))
    for grid, name in ((f"{P}-cross", "cross-venue"), (f"{P}-arb", "arbitrage"), (f"{P}-acc", "accumulated")):
        register_table_download(grid, f"alphapulse-{name}")
    for chart in ("spread", "heatmap", "premium", "oi"):
        register_chart_download(f"{P}-{chart}", f"alphapulse-{chart}")
    callback(output=DRAW_OUTPUTS, inputs={"fp": Input(f"{P}-fp", "data"), "theme": Input(STORE_ID, "data")})(
        lambda fp, theme: _draw(fp, theme, baseline))
    callback(Output(f"{P}-spread", "figure"), Input(f"{P}-arb", "selectedRows"), Input(f"{P}-arb", "rowData"),
             Input(STORE_ID, "data"), State(f"{P}-fp", "data"))(_spread)  # fmt: skip
    callback(Output(f"{P}-cross", "dashGridOptions"), Input(f"{P}-search", "value"),
             prevent_initial_call=True)(_search)
    callback(Output(f"{P}-order", "options"), Output(f"{P}-order", "value"), Input(f"{P}-heatmap", "clickData"),
             State(f"{P}-order", "options"), prevent_initial_call=True)(_order_by_column)  # fmt: skip
