"""The control bar every page shows (pickers, range, refresh, alerts, stores)."""

from __future__ import annotations

from datetime import datetime, timedelta

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.controls.state import AUTO_FUNDING, CUSTOM, PRESETS, REFRESH_CHOICES, ViewState, format_time
from app.controls.store import initial_store
from app.format import freshness
from db.symbols import display_symbol

#: Height (px) of an open picker's list: ten options of Dash's 35 px rows (it showed three).
DROPDOWN_MAX_HEIGHT = 350

#: Hint beside the date picker while "custom" waits for its dates (the view stays on the default range until then).
DATES_HINT = "Pick a start and an end date (UTC); until then the last 24 h are shown."


def _dropdown(prefix: str, name: str, options: list[dict], value: list[str], placeholder: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=f"{prefix}-{name}",
        options=options,
        value=value,
        multi=True,
        searchable=True,
        placeholder=placeholder,
        maxHeight=DROPDOWN_MAX_HEIGHT,
        className="ap-dropdown",
    )


def _range_controls(prefix: str, state: ViewState, dates: tuple) -> html.Div:
    custom = state.range == CUSTOM
    first, last, month = dates
    return html.Div(
        [
            dbc.RadioItems(
                id=f"{prefix}-range",
                options=[{"label": k, "value": k} for k in PRESETS] + [{"label": "custom", "value": CUSTOM}],
                value=state.range,
                inline=True,
                className="btn-group ap-range",
                inputClassName="btn-check",
                labelClassName="btn btn-outline-primary btn-sm",
                labelCheckedClassName="active",
            ),
            dcc.DatePickerRange(
                id=f"{prefix}-dates",
                start_date=state.start.date().isoformat() if custom and state.start else None,
                end_date=(state.end - timedelta(days=1)).date().isoformat() if custom and state.end else None,
                display_format="YYYY-MM-DD",
                start_date_placeholder_text="from (UTC)",
                end_date_placeholder_text="to (UTC)",
                clearable=True,
                className="ap-dates",
                min_date_allowed=first,
                max_date_allowed=last,
                initial_visible_month=month,
            ),
            html.Span(id=f"{prefix}-dates-hint", className="ap-dates-hint text-muted"),
            dbc.Button(
                "Back to now",
                id=f"{prefix}-live",
                size="sm",
                color="secondary",
                outline=True,
                className="ap-live",
                style={} if not state.live and not custom else {"display": "none"},
            ),
            dcc.Store(id=f"{prefix}-anchor", data=format_time(state.end) if state.end and not custom else None),
        ],
        className="ap-range-row",
    )


def _refresh_controls(prefix: str, state: ViewState, request: dict | None) -> html.Div:
    checked = freshness(datetime.fromisoformat(request["now"])) if request else ""
    return html.Div(
        [
            html.Label("Auto-refresh", htmlFor=f"{prefix}-refresh", className="ap-label"),
            dcc.Dropdown(
                id=f"{prefix}-refresh",
                options=[{"label": f"{s} s" if s else "off", "value": s} for s in REFRESH_CHOICES],
                value=state.refresh,
                clearable=False,
                searchable=False,
                className="ap-refresh",
            ),
            dcc.Interval(id=f"{prefix}-interval", interval=max(state.refresh, 1) * 1000, disabled=not state.refresh),
            html.Span(checked, id=f"{prefix}-updated", className="ap-updated text-muted"),
        ],
        className="ap-refresh-row",
    )


def control_bar(prefix: str, state: ViewState, show_funding: bool = True, request: dict | None = None,
                pickers: dict | None = None):
    """The shared controls for page ``prefix``, set from ``state``.

    The exchange and symbol pickers offer ``pickers`` (``app.pickers.picker_options``: every pair with data, the
    note on chosen names without data, the date picker's bounds); without it (None) the chosen values are their
    only options. Also holds the page's stores:
    ``{prefix}-state`` (the view, :func:`initial_store`; rewritten by :func:`register_callbacks`), ``{prefix}-fp``
    (``request``: the first draw request, see ``app.refresh``), ``{prefix}-drawn`` (fingerprint of what is drawn),
    ``{prefix}-defaulted`` (True when the symbols are :data:`DEFAULT_SYMBOLS` because the link named none); the
    "problems" alert for bad URL parameters; the funding basis (``auto``, per interval, annualised) with
    ``{prefix}-funding-note`` beside it (the page says there what ``auto`` chose and why); and the empty-range
    notice with its jump button (``{prefix}-jump``).
    """
    exchanges, symbols = list(state.exchanges), list(state.symbols)
    pickers = pickers or {
        "exchanges": [{"label": e, "value": e} for e in exchanges], "unknown": None, "dates": (None, None, None),
        "symbols": [{"label": display_symbol(s), "value": s} for s in symbols],
    }  # fmt: skip
    funding = dbc.RadioItems(
        id=f"{prefix}-funding",
        options=[
            {"label": "auto", "value": AUTO_FUNDING},
            {"label": "per interval", "value": "interval"},
            {"label": "annualised", "value": "annual"},
        ],
        value=state.funding,
        inline=True,
        className="btn-group ap-funding",
        inputClassName="btn-check",
        labelClassName="btn btn-outline-secondary btn-sm",
        labelCheckedClassName="active",
    )
    return html.Div(
        [
            html.Div(
                [
                    _dropdown(
                        prefix,
                        "exchanges",
                        pickers["exchanges"],
                        list(state.exchanges),
                        "All exchanges",
                    ),
                    _dropdown(
                        prefix,
                        "symbols",
                        pickers["symbols"],
                        list(state.symbols),
                        "Symbols (type to search)",
                    ),
                    html.Div(
                        [funding, html.Div(id=f"{prefix}-funding-note", className="ap-funding-note text-muted")],
                        style={} if show_funding else {"display": "none"},
                        className="ap-funding-box",
                    ),
                ],
                className="ap-controls-row",
            ),
            html.Div(
                [_range_controls(prefix, state, pickers["dates"]), _refresh_controls(prefix, state, request)],
                className="ap-controls-row",
            ),
            html.Div(id=f"{prefix}-window", className="ap-window text-muted"),
            dbc.Alert(
                ["Some link parameters were ignored: ", "; ".join(state.problems)],
                color="warning",
                is_open=bool(state.problems),
                dismissable=True,
                className="ap-problems",
            ),
            html.Div(pickers["unknown"], id=f"{prefix}-unknown"),  # names in the link without data
            dbc.Alert(
                [
                    html.Div(id=f"{prefix}-empty-text", className="ap-empty-text"),
                    dbc.Button(id=f"{prefix}-jump", color="primary", className="mt-2", n_clicks=0),
                ],
                id=f"{prefix}-empty",
                color="info",
                is_open=False,
                className="ap-empty",
            ),
            dcc.Store(id=f"{prefix}-state", data=initial_store(state)),
            dcc.Store(id=f"{prefix}-fp", data=request),
            dcc.Store(id=f"{prefix}-drawn"),
            dcc.Store(id=f"{prefix}-defaulted", data=state.defaulted),
            dcc.Store(id=f"{prefix}-newest"),
        ],
        className="ap-controls",
    )
