"""The view controls every page shares, and their round trip through the URL query string.

A view is a :class:`ViewState`: exchanges, symbols, time range (a preset ending now or at an anchored
end time, or a custom date range), auto-refresh period, funding display mode, and the anomaly filters.
:func:`parse_query` reads it from a page's query parameters (what Dash pages passes to ``layout(**query)``),
:func:`to_query` writes it back; so a copied link reproduces the view. URL parameters (all optional)::

    exchange=binanceusdm,bybit   symbols=BTC/USDT,ETH/USDT   range=1h|6h|24h|7d|30d|custom
    start=2026-03-01T00:00Z (custom only)   end=2026-03-19T20:00Z (anchor, or custom end)
    refresh=0|5|10|30|60 (seconds, 0 = off)   funding=interval|annual   metric=funding_rate,…   min_z=4

Component ids are prefixed with the page name (``overview-symbols``); :func:`control_bar` builds the
components for one page and :func:`register_callbacks` wires them for that prefix. No state lives in
this module: the view is in the components and the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from app.format import FUNDING_MODES, span_label, utc
from db.symbols import SymbolError, display_symbol, normalize_symbol

#: Range presets: name -> length. The range ends now (live) or at the anchored ``end``.
PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
CUSTOM = "custom"
DEFAULT_RANGE = "24h"

#: Auto-refresh choices in seconds (0 = off) and the default.
REFRESH_CHOICES = (0, 5, 10, 30, 60)
DEFAULT_REFRESH = 10

#: Longest custom range (the API's limit for bucketed series is of the same order).
MAX_CUSTOM_RANGE = timedelta(days=366)


class QueryError(ValueError):
    """A URL parameter that cannot be used; the message names the parameter and the value."""


@dataclass(frozen=True)
class ViewState:
    """One view of the data. Empty ``exchanges``/``symbols`` mean "the defaults" (chosen by the page).

    ``end`` (aware UTC) anchors a preset range's end (``None``: live, ends now); with ``range == "custom"``
    ``start``/``end`` bound the range. ``refresh`` is seconds (0 = off); ``funding`` one of
    :data:`~app.format.FUNDING_MODES`; ``metrics``/``min_z`` filter anomalies (|z|, dimensionless).
    """

    exchanges: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    range: str = DEFAULT_RANGE
    start: datetime | None = None
    end: datetime | None = None
    refresh: int = DEFAULT_REFRESH
    funding: str = "interval"
    metrics: tuple[str, ...] = ()
    min_z: float = 0.0
    problems: tuple[str, ...] = field(default=(), compare=False)
    defaulted: bool = field(default=False, compare=False)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """``(start, end)`` of the range at ``now`` (aware UTC); a custom range without dates falls back to 24 h."""
        if self.range == CUSTOM and self.start is not None and self.end is not None:
            return self.start, self.end
        end = self.end or now
        return end - PRESETS.get(self.range, PRESETS[DEFAULT_RANGE]), end

    @property
    def live(self) -> bool:
        """True when the range ends now (no anchor, not custom)."""
        return self.range != CUSTOM and self.end is None


def parse_time(raw: str, name: str) -> datetime:
    """An ISO-8601 time (``2026-03-19T20:00Z``, ``2026-03-19``) as aware UTC; naive means UTC.

    Raises :class:`QueryError` naming ``name`` when unreadable.
    """
    try:
        value = datetime.fromisoformat(raw.strip().replace("z", "Z"))
    except ValueError as exc:
        raise QueryError(f"{name}={raw!r} is not an ISO-8601 time (e.g. 2026-03-19T20:00Z)") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Compact ISO-8601 UTC for URLs: ``2026-03-19T20:00Z`` (seconds only when not zero)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ" if value.second else "%Y-%m-%dT%H:%MZ")


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def _symbols(raw: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(normalize_symbol(s) for s in _split(raw)))
    except SymbolError as exc:
        raise QueryError(f"symbols: {exc}") from exc


def _choice(raw: str, name: str, choices) -> str:
    if raw not in choices:
        raise QueryError(f"{name}={raw!r} is not one of {', '.join(map(str, choices))}")
    return raw


def _refresh(raw: str) -> int:
    return int(_choice(raw, "refresh", [str(c) for c in REFRESH_CHOICES]))


def _min_z(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise QueryError(f"min_z={raw!r} is not a number") from exc
    if not 0 <= value < 1000:
        raise QueryError(f"min_z={raw!r} must be between 0 and 1000")
    return value


_PARSERS = {
    "exchange": ("exchanges", lambda raw: tuple(dict.fromkeys(_split(raw)))),
    "symbols": ("symbols", _symbols),
    "range": ("range", lambda raw: _choice(raw, "range", [*PRESETS, CUSTOM])),
    "start": ("start", lambda raw: parse_time(raw, "start")),
    "end": ("end", lambda raw: parse_time(raw, "end")),
    "refresh": ("refresh", _refresh),
    "funding": ("funding", lambda raw: _choice(raw, "funding", FUNDING_MODES)),
    "metric": ("metrics", lambda raw: tuple(dict.fromkeys(_split(raw)))),
    "min_z": ("min_z", _min_z),
}


def parse_query(query: Mapping[str, str]) -> ViewState:
    """The :class:`ViewState` of URL query parameters (module docstring). Never raises: a parameter that
    cannot be used keeps its default and is reported in ``problems`` (shown to the user); unknown
    parameters (e.g. Dash's own) are ignored. A custom range with start >= end or longer than
    :data:`MAX_CUSTOM_RANGE` falls back to the default range.
    """
    values, problems = {}, []
    for name, (attr, parse) in _PARSERS.items():
        raw = query.get(name)
        if raw is None or not str(raw).strip():
            continue
        try:
            values[attr] = parse(str(raw).strip())
        except QueryError as exc:
            problems.append(str(exc))
    state = ViewState(**values)
    if state.range == CUSTOM:
        if state.start is None or state.end is None:
            problems.append("range=custom needs both start and end")
            state = replace(state, range=DEFAULT_RANGE, start=None, end=None)
        elif not timedelta(0) < state.end - state.start <= MAX_CUSTOM_RANGE:
            problems.append(f"start must be before end and the range at most {MAX_CUSTOM_RANGE.days} days")
            state = replace(state, range=DEFAULT_RANGE, start=None, end=None)
    elif state.start is not None:
        state = replace(state, start=None)
    return replace(state, problems=tuple(problems))


def to_query(state: ViewState) -> str:
    """The URL query string (without ``?``) of ``state``; defaults are left out so links stay short."""
    params: dict[str, str] = {}
    if state.exchanges:
        params["exchange"] = ",".join(state.exchanges)
    if state.symbols:
        params["symbols"] = ",".join(display_symbol(s) for s in state.symbols)
    if state.range != DEFAULT_RANGE:
        params["range"] = state.range
    if state.range == CUSTOM and state.start is not None:
        params["start"] = format_time(state.start)
    if state.end is not None:
        params["end"] = format_time(state.end)
    if state.refresh != DEFAULT_REFRESH:
        params["refresh"] = str(state.refresh)
    if state.funding != "interval":
        params["funding"] = state.funding
    if state.metrics:
        params["metric"] = ",".join(state.metrics)
    if state.min_z:
        params["min_z"] = f"{state.min_z:g}"
    return urlencode(params, safe="/,:")


# --- components ---------------------------------------------------------------------------------------------------


def _dropdown(prefix: str, name: str, options: list[dict], value: list[str], placeholder: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=f"{prefix}-{name}",
        options=options,
        value=value,
        multi=True,
        searchable=True,
        placeholder=placeholder,
        className="ap-dropdown",
    )


def _range_controls(prefix: str, state: ViewState) -> html.Div:
    custom = state.range == CUSTOM
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
            ),
            dbc.Button("Back to now", id=f"{prefix}-live", size="sm", color="secondary", outline=True,
                       className="ap-live", style={} if not state.live and not custom else {"display": "none"}),
            dcc.Store(id=f"{prefix}-anchor", data=format_time(state.end) if state.end and not custom else None),
        ],
        className="ap-range-row",
    )


def _refresh_controls(prefix: str, state: ViewState, request: dict | None) -> html.Div:
    checked = f"Last updated {utc(datetime.fromisoformat(request['now']), seconds=True)}" if request else ""
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


def control_values(state: ViewState) -> dict:
    """The values the controls of :func:`control_bar` start with for ``state`` (keys of
    :func:`state_from_controls`)."""
    custom = state.range == CUSTOM and state.start is not None and state.end is not None
    return {
        "exchanges": list(state.exchanges), "symbols": list(state.symbols), "range": state.range,
        "start_date": state.start.date().isoformat() if custom else None,
        "end_date": (state.end - timedelta(days=1)).date().isoformat() if custom else None,
        "anchor": format_time(state.end) if state.end and not custom else None,
        "refresh": state.refresh, "funding": state.funding, "metrics": list(state.metrics), "min_z": state.min_z,
    }  # fmt: skip


def initial_store(state: ViewState) -> dict:
    """The ``{prefix}-state`` store of a freshly rendered page: exactly what the controls will produce (a custom
    range is whole UTC days, as the date picker shows it)."""
    return state_to_store(state_from_controls(control_values(state)))


def control_bar(prefix: str, state: ViewState, show_funding: bool = True, request: dict | None = None):
    """The shared controls for page ``prefix``, set from ``state``.

    The exchange and symbol pickers start with the chosen values as their only options; ``app.refresh`` fills in
    every pair with data right after the page loads (so rendering needs no query). Also holds the page's stores:
    ``{prefix}-state`` (the view, :func:`initial_store`; rewritten by :func:`register_callbacks`), ``{prefix}-fp``
    (``request``: the first draw request, see ``app.refresh``), ``{prefix}-drawn`` (fingerprint of what is drawn),
    ``{prefix}-defaulted`` (True when the symbols are :data:`DEFAULT_SYMBOLS` because the link named none); the
    "problems" alert for bad URL parameters and the empty-range notice with its jump button (``{prefix}-jump``).
    """
    exchanges, symbols = list(state.exchanges), list(state.symbols)
    funding = dbc.RadioItems(
        id=f"{prefix}-funding",
        options=[{"label": "per interval", "value": "interval"}, {"label": "annualised", "value": "annual"}],
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
                    _dropdown(prefix, "exchanges", [{"label": e, "value": e} for e in exchanges],
                              list(state.exchanges), "All exchanges"),
                    _dropdown(prefix, "symbols", [{"label": display_symbol(s), "value": s} for s in symbols],
                              list(state.symbols), "Symbols (type to search)"),
                    html.Div(funding, style={} if show_funding else {"display": "none"}, className="ap-funding-box"),
                ],
                className="ap-controls-row",
            ),
            html.Div([_range_controls(prefix, state), _refresh_controls(prefix, state, request)],
                     className="ap-controls-row"),
            html.Div(id=f"{prefix}-window", className="ap-window text-muted"),
            dbc.Alert(
                ["Some link parameters were ignored: ", "; ".join(state.problems)],
                color="warning", is_open=bool(state.problems), dismissable=True, className="ap-problems",
            ),
            dbc.Alert(
                [
                    html.Div(id=f"{prefix}-empty-text", className="ap-empty-text"),
                    dbc.Button(id=f"{prefix}-jump", color="primary", className="mt-2", n_clicks=0),
                ],
                id=f"{prefix}-empty", color="info", is_open=False, className="ap-empty",
            ),
            dcc.Store(id=f"{prefix}-state", data=initial_store(state)),
            dcc.Store(id=f"{prefix}-fp", data=request),
            dcc.Store(id=f"{prefix}-drawn"),
            dcc.Store(id=f"{prefix}-defaulted", data=state.defaulted),
            dcc.Store(id=f"{prefix}-newest"),
        ],
        className="ap-controls",
    )


# --- callbacks ----------------------------------------------------------------------------------------------------


def _date_bounds(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime] | None:
    """A DatePickerRange's inclusive dates -> ``[start 00:00, end + 1 day 00:00)`` UTC, or None if incomplete."""
    if not start_date or not end_date:
        return None
    start = parse_time(start_date[:10], "start")
    end = parse_time(end_date[:10], "end") + timedelta(days=1)
    return (start, end) if start < end else None


def state_from_controls(values: Mapping[str, object]) -> ViewState:
    """A :class:`ViewState` of the control values of one page (keys: ``exchanges``, ``symbols``, ``range``,
    ``start_date``, ``end_date``, ``anchor``, ``refresh``, ``funding``, ``metrics``, ``min_z``)."""
    rng = values.get("range") or DEFAULT_RANGE
    start = end = None
    if rng == CUSTOM:
        bounds = _date_bounds(values.get("start_date"), values.get("end_date"))
        if bounds is None:
            rng = DEFAULT_RANGE
        else:
            start, end = bounds
    elif values.get("anchor"):
        end = parse_time(str(values["anchor"]), "end")
    return ViewState(
        exchanges=tuple(values.get("exchanges") or ()),
        symbols=tuple(values.get("symbols") or ()),
        range=rng,
        start=start,
        end=end,
        refresh=int(values.get("refresh") or 0),
        funding=str(values.get("funding") or "interval"),
        metrics=tuple(values.get("metrics") or ()),
        min_z=float(values.get("min_z") or 0.0),
    )


def state_to_store(state: ViewState) -> dict:
    """JSON form of ``state`` for a ``dcc.Store`` (times as ISO strings) plus its ``query`` string."""
    return {
        "exchanges": list(state.exchanges), "symbols": list(state.symbols), "range": state.range,
        "start": format_time(state.start) if state.start else None,
        "end": format_time(state.end) if state.end else None,
        "refresh": state.refresh, "funding": state.funding, "metrics": list(state.metrics), "min_z": state.min_z,
        "query": to_query(state),
    }  # fmt: skip


def state_from_store(data: Mapping) -> ViewState:
    """Inverse of :func:`state_to_store`."""
    return ViewState(
        exchanges=tuple(data["exchanges"]), symbols=tuple(data["symbols"]), range=data["range"],
        start=parse_time(data["start"], "start") if data["start"] else None,
        end=parse_time(data["end"], "end") if data["end"] else None,
        refresh=int(data["refresh"]), funding=data["funding"], metrics=tuple(data["metrics"]),
        min_z=float(data["min_z"]),
    )  # fmt: skip


def window_text(start: datetime, end: datetime, bucket: timedelta, live: bool) -> str:
    """``"2026-03-18 20:00 → 2026-03-19 20:00 UTC · 24 h in 1 min buckets · live"``."""
    tail = " · live" if live else " · fixed range"
    return f"{utc(start)[:-4]} → {utc(end)} · {span_label(end - start)} in {span_label(bucket)} buckets{tail}"


def register_callbacks(prefix: str, extra: Mapping[str, str] | None = None) -> None:
    """Wire the controls of page ``prefix``: controls -> ``{prefix}-state`` store (and the refresh timer),
    the custom dates <-> preset, the anchor ("Back to now", the empty-range jump), and the URL.

    ``extra`` maps additional :class:`ViewState` field names (``metrics``, ``min_z``) to component ids whose
    ``value`` feeds them. Call once per page at import (Dash's callback registry, no module state here).
    """
    extra = dict(extra or {})
    names = ["exchanges", "symbols", "range", "refresh", "funding"]
    inputs = [Input(f"{prefix}-{n}", "value") for n in names]
    inputs += [Input(f"{prefix}-dates", "start_date"), Input(f"{prefix}-dates", "end_date"),
               Input(f"{prefix}-anchor", "data")]
    inputs += [Input(cid, "value") for cid in extra.values()]
    keys = [*names, "start_date", "end_date", "anchor", *extra]

    @callback(
        Output(f"{prefix}-state", "data"),
        Output(f"{prefix}-interval", "interval"),
        Output(f"{prefix}-interval", "disabled"),
        Output(f"{prefix}-live", "style"),
        inputs,
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
        trigger = ctx.triggered_id
        if trigger == f"{prefix}-live":
            return (DEFAULT_RANGE if rng == CUSTOM else no_update), None
        if trigger == f"{prefix}-jump":
            if not newest:
                return no_update, no_update
            return (DEFAULT_RANGE if rng == CUSTOM else no_update), newest
        if _date_bounds(start_date, end_date) is not None:
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


#: Symbols selected when a link names none (those with data among them, in this order).
DEFAULT_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def with_defaults(state: ViewState) -> ViewState:
    """``state`` with :data:`DEFAULT_SYMBOLS` when it names no symbol (``defaulted`` set). Chosen without a query so
    the page renders at once; when they have no data the page says so and the picker lists the symbols that have.
    Unknown names in a link are kept (and reported as without data), a link is never silently changed."""
    if state.symbols:
        return state
    return replace(state, symbols=DEFAULT_SYMBOLS, defaulted=True)
