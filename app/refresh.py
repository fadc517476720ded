"""Redraw only when new data arrived: the *fingerprint* callback each live page registers.

On every control change and every auto-refresh tick, ``{prefix}-check`` reads a cheap fingerprint of the view
(a few newest-time index probes, e.g. :func:`market_fingerprint`) and writes ``{prefix}-fp`` only when the
view or the fingerprint changed; otherwise ``no_update``, so the page's draw callback (an input on
``{prefix}-fp``) does not run and the browser redraws nothing. The "last updated" stamp is refreshed on every
tick. Nothing is kept between requests except in the browser's ``dcc.Store``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dash import Input, Output, State, callback, no_update
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app import controls
from app.dashboard import read_connection
from app.format import utc
from db import queries

#: Bounds that cover every stored time (for "newest anomaly of the selection").
ALL_TIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))


def selection(state: controls.ViewState) -> tuple[list[str] | None, list[str] | None]:
    """``(exchanges, symbols)`` of ``state`` for ``db.queries`` (``None``: all)."""
    return (list(state.exchanges) or None), (list(state.symbols) or None)


def market_fingerprint(conn: Connection, state: controls.ViewState) -> dict:
    """Newest funding/price time and newest anomaly time of the selection (ISO strings; None when none)."""
    exchanges, symbols = selection(state)
    extent = queries.data_extent(conn, exchanges, symbols)
    newest_anomaly = queries.anomaly_rows(conn, exchanges, symbols, *ALL_TIME, limit=1)
    return {
        "data": extent[1].isoformat() if extent else None,
        "anomaly": newest_anomaly["time"].iloc[0].isoformat() if len(newest_anomaly) else None,
    }


def register_refresh(prefix: str, fingerprint: Callable[[Connection, controls.ViewState], dict]) -> None:
    """Register page ``prefix``'s fingerprint callback: ``{prefix}-state`` + ``{prefix}-interval`` ->
    ``{prefix}-fp`` (``{"query", "state", "now", **fingerprint}``) and ``{prefix}-updated``."""

    @callback(
        Output(f"{prefix}-fp", "data"),
        Output(f"{prefix}-updated", "children"),
        Input(f"{prefix}-state", "data"),
        Input(f"{prefix}-interval", "n_intervals"),
        State(f"{prefix}-fp", "data"),
    )
    def _check(state_data, _ticks, old):
        if not state_data:
            return no_update, no_update
        now = datetime.now(UTC)
        try:
            with read_connection() as conn:
                newest = fingerprint(conn, controls.state_from_store(state_data))
        except SQLAlchemyError as exc:
            return no_update, f"Database unreachable at {utc(now, seconds=True)} ({type(exc).__name__})"
        fp = {"query": state_data["query"], "state": state_data, **newest}
        stamp = f"Last updated {utc(now, seconds=True)}"
        if old and all(old.get(k) == v for k, v in fp.items()):
            return no_update, stamp
        return {**fp, "now": now.isoformat()}, stamp


def resolve(fp: dict) -> tuple[controls.ViewState, datetime, datetime, timedelta]:
    """``(state, start, end, bucket)`` of a fingerprint store: the window as it was when the data was checked."""
    state = controls.state_from_store(fp["state"])
    start, end = state.window(datetime.fromisoformat(fp["now"]))
    return state, start, end, queries.choose_bucket(start, end)
