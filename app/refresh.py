"""Page start-up without database round trips but the cached symbol list, and redraw only when new data arrived.

Every live page has three stores (built by ``app.controls.control_bar``):

* ``{prefix}-state`` — the view (controls); ``{prefix}-fp`` — a *draw request* ``{"query", "state", "now"}``: the
  page's draw callback runs whenever it changes; ``{prefix}-drawn`` — the *fingerprint* of what is on screen.

The layout renders with a draw request already in ``{prefix}-fp`` and the pickers' options (:func:`start_page`:
no query but the cached symbol list, ``app.pickers``), so the page draws straight away. Then:

* the page's draw (on ``{prefix}-fp``) also stores the fingerprint of the drawn window in ``{prefix}-drawn``
  (:class:`Baseline`, read in a second thread while the draw reads its data: one callback per opening, not a
  draw and a baseline callback): ``db.queries.window_fingerprint`` (per table a version of the rows the view
  draws — read from the rollups the charts read at buckets of 15 minutes and more — and the newest time in the
  window; a few ms);
* ``_check`` (on every auto-refresh tick and control change) writes a new draw request only when the view
  changed or the fingerprint of the current window differs from the stored one; else ``no_update``, so
  nothing is queried for the charts and the browser redraws nothing. It always refreshes the freshness
  stamp (:func:`stamp`: "data as of" the newest row in view, "checked at" the clock).

Known pairs (exchange + symbol with data) come from the shared cache (``app.api.pairs``), so no page reads the
``pair_extents`` catalogue more than once per cache period. Fingerprints are shared too
(:func:`cached_fingerprint`: ``ALPHAPULSE_CACHE_LIVE_SECONDS`` for a live window), and a draw request written by
``_check`` carries the fingerprint it saw under ``"fp"``: the draw keys its cached data by it
(:func:`cached_view`), so data is never older than the fingerprint stored as drawn, and the draw stores it
without a query. The first draw of a page (no fingerprint yet) may use data up to the live TTL older than the
baseline it stores; a row arriving in that gap shows at the next change. Nothing is kept in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from dash import Input, Output, State, callback, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app import controls, inputs
from app.api import pairs as cached_pairs
from app.cache import cache_key, shared_cache, ttl_for
from app.dashboard import current_settings, read_connection
from app.format import freshness, utc
from app.params import utc_time
from app.pickers import Pickers, picker_options
from app.reads import alongside
from db import queries

T = TypeVar("T")

#: A page's additional fingerprint part: ``(conn, now) -> JSON-able value``.
Extra = Callable[[Connection, datetime], object]

#: Tables whose fingerprint decides a redraw, per kind of page.
MARKET_TABLES = ("funding_rates", "prices", "anomalies")
SYSTEM_TABLES = (*MARKET_TABLES, "system_metrics")


def selection(conn: Connection, state: controls.ViewState) -> tuple[list[str], list[str]]:
    """Explicit ``(exchanges, symbols)`` of ``state`` for ``db.queries``: an empty exchange choice means every
    exchange that has one of the symbols (from the cached known pairs), so no query reads the catalogue."""
    symbols = list(state.symbols)
    if state.exchanges:
        return list(state.exchanges), symbols
    exchanges = sorted({e for e, s in cached_pairs(conn) if s in symbols}) if symbols else []
    return exchanges, symbols


def window_key(state: controls.ViewState, start: datetime, end: datetime) -> tuple:
    """The part of a cache key that names the view's selection and window: a live window by its length (its
    result is shared for the live TTL, whatever ``now`` each request has), any other by its bounds."""
    window = ("live", end - start) if state.live else (start, end)
    return (state.exchanges, state.symbols, *window)


def cached_view(
    name: str, state: controls.ViewState, start: datetime, end: datetime, compute: Callable[[], T], *parts
) -> T:
    """``compute()`` (a page's queries; opens its own connection) through the shared cache, keyed by ``name``,
    :func:`window_key` and ``parts`` (bucket, fingerprint of the draw request…), kept as :func:`app.cache.ttl_for`
    says."""
    key = cache_key(name, *window_key(state, start, end), *parts)
    return shared_cache().get(key, compute, ttl_for(current_settings(), end, datetime.now(UTC)))


def cached_output(
    name: str, state: controls.ViewState, start: datetime, end: datetime, compute: Callable[[], T], *parts
) -> T:
    """A draw's built output (figures, rows, components: ``compute()``, from data already read) through the shared
    cache like :func:`cached_view`, so the next analysts on the view skip the figure and component building too.
    ``parts`` must name everything the output depends on besides the window (the draw request's query and
    fingerprint, the bucket…). A live view is built every time: its output follows the clock (countdowns, the
    window's ends), which no key names."""
    if state.live:
        return compute()
    return cached_view(f"{name}-output", state, start, end, compute, *parts)


def cached_fingerprint(
    state: controls.ViewState,
    start: datetime,
    end: datetime,
    tables: Sequence[str] = MARKET_TABLES,
    extra: Extra | None = None,
) -> dict:
    """:func:`fingerprint` through the shared cache (:func:`cached_view`; opens a connection on a miss only).
    Raises SQLAlchemy's errors when the database is unreachable."""

    def compute():
        with read_connection() as conn:
            return fingerprint(conn, state, start, end, tables, extra)

    return cached_view("fingerprint", state, start, end, compute, tuple(tables))


def fingerprint(
    conn: Connection,
    state: controls.ViewState,
    start: datetime,
    end: datetime,
    tables: Sequence[str] = MARKET_TABLES,
    extra: Extra | None = None,
) -> dict:
    """JSON form of ``db.queries.window_fingerprint`` for the view's selection in ``[start, end)`` (drawn in
    ``db.queries.choose_bucket`` buckets, as :func:`resolve` says): ``{table: [version, newest ISO time or None]}``,
    plus ``extra(conn, now)`` under ``"extra"`` when given (e.g. the feed statuses, which change with the clock)."""
    exchanges, symbols = selection(conn, state)
    found = queries.window_fingerprint(conn, exchanges, symbols, start, end, tables)
    out = {name: [rows, newest.isoformat() if newest else None] for name, (rows, newest) in found.items()}
    if extra is not None:
        out["extra"] = extra(conn, datetime.now(UTC))
    return out


def draw_request(store: dict, now: datetime, current: dict | None = None) -> dict:
    """The ``{prefix}-fp`` value asking the page to draw view ``store`` (``controls`` store) at ``now``; ``current``
    is the fingerprint that prompted it (None for a first draw or a changed view)."""
    return {"query": store["query"], "state": store, "now": now.isoformat(), "fp": current}


def resolve(fp) -> tuple[controls.ViewState, datetime, datetime, timedelta]:
    """``(state, start, end, bucket)`` of a draw request: the window as of the request's ``now``. Raises
    :class:`~app.inputs.InputError` when ``fp`` is not a draw request (:func:`draw_request`)."""
    fp = inputs.mapping(fp, "draw request", ("query", "state", "now"))
    inputs.text(fp["query"], "draw request query", optional=False)
    state = controls.state_from_store(fp["state"])
    start, end = state.window(inputs.time(fp["now"], "draw request now", utc_time))
    return state, start, end, queries.choose_bucket(start, end)


@dataclass(frozen=True)
class Baseline:
    """How a page's draw stores the fingerprint of what it draws (``{prefix}-drawn``; module docstring).

    ``tables`` and ``extra``: those of :func:`fingerprint`."""

    tables: Sequence[str] = MARKET_TABLES
    extra: Extra | None = None

    def of(self, fp) -> dict | None:
        """The ``{prefix}-drawn`` value of draw request ``fp``: the fingerprint the refresh check saw when it asked
        for the draw (no query), else :func:`cached_fingerprint` of the request's window; None when the database is
        unreachable. Raises :class:`~app.inputs.InputError` when ``fp`` is not a draw request."""
        state, start, end, _ = resolve(fp)
        if fp.get("fp") is not None:
            return {"query": fp["query"], "fp": inputs.mapping(fp["fp"], "draw request fingerprint")}
        try:
            return {"query": fp["query"], "fp": cached_fingerprint(state, start, end, self.tables, self.extra)}
        except SQLAlchemyError:
            return None

    def with_draw(self, fp, draw: Callable[[], dict]) -> dict:
        """``draw()`` (a draw callback's outputs) plus ``"drawn"``: :meth:`of` ``fp``, read in another thread while
        ``draw`` runs (:func:`app.reads.alongside`: the opening waits for the longer of the two, not their sum),
        also when only the theme changed (dash-renderer may name the theme store alone as the trigger of a page's
        first draw, whose fingerprint must be stored). Raises PreventUpdate
        without a request, :class:`~app.inputs.InputError` when ``fp`` is not a draw request."""
        if not fp:
            raise PreventUpdate
        resolve(fp)  # validates the request first (InputError: a 400)
        if fp.get("fp") is not None:  # the fingerprint is in the request: no query
            return {**draw(), "drawn": self.of(fp)}
        out, drawn = alongside(lambda: self.of(fp), draw)
        return {**out, "drawn": drawn}


def register_refresh(prefix: str, tables: Sequence[str] = MARKET_TABLES, extra: Extra | None = None) -> Baseline:
    """Register page ``prefix``'s ``_check`` callback (module docstring; ``tables`` are the fingerprinted tables,
    ``extra`` an additional part, see :func:`fingerprint`); returns the :class:`Baseline` its draw stores with
    what it draws (output ``{prefix}-drawn``)."""

    @callback(
        Output(f"{prefix}-fp", "data"),
        Output(f"{prefix}-updated", "children"),
        Input(f"{prefix}-state", "data"),
        Input(f"{prefix}-interval", "n_intervals"),
        State(f"{prefix}-drawn", "data"),
        prevent_initial_call=True,  # the layout holds the first draw request
    )
    def _check(store, _ticks, drawn):
        if not store:
            raise PreventUpdate
        state = controls.state_from_store(store)
        drawn = inputs.optional_mapping(drawn, "drawn fingerprint", ("query", "fp"))
        now = datetime.now(UTC)
        if not drawn or drawn["query"] != store["query"]:
            return draw_request(store, now), stamp(now, None)
        try:
            current = cached_fingerprint(state, *state.window(now), tables, extra)
        except SQLAlchemyError as exc:
            return no_update, f"Database unreachable at {utc(now, seconds=True)} ({type(exc).__name__})"
        return (no_update if current == drawn["fp"] else draw_request(store, now, current)), stamp(now, current)

    return Baseline(tables, extra)


def stamp(now: datetime, fp: dict | None) -> str:
    """:func:`app.format.freshness` of the newest row time in fingerprint ``fp`` (:func:`fingerprint`; ``None``
    before it is known) and ``now``."""
    newest = [datetime.fromisoformat(v[1]) for name, v in (fp or {}).items() if name != "extra" and v[1]]
    return freshness(now, max(newest) if newest else None)


@dataclass(frozen=True)
class PageStart:
    """What a page's ``layout(**query)`` renders with: the view (defaults applied), the first draw request and the
    pickers' options (:func:`app.pickers.picker_options`; None when they could not be read)."""

    state: controls.ViewState
    request: dict
    pickers: Pickers | None


def start_page(query: dict) -> PageStart:
    """The view of ``query`` (URL parameters), its first draw request, and the pickers' options (the cached list
    of pairs with data: no database access while it is cached)."""
    state = controls.with_defaults(controls.parse_query(query))
    now = datetime.now(UTC)
    return PageStart(state, draw_request(controls.initial_store(state), now), picker_options(state))
