"""The options of a page's exchange and symbol pickers, the note on chosen names without data and the date picker's
bounds, rendered with the page (:func:`picker_options`, called by ``app.refresh.start_page``).

They come with the page's layout rather than from a callback after the first draw: one request fewer per opening
(issue 10), and the list of pairs with data is the shared cache's (``app.api.symbol_list``, kept
``ALPHAPULSE_API_CACHE_SECONDS``), so rendering reads the database at most once per cache period.
"""

from __future__ import annotations

from typing import TypedDict

import dash_bootstrap_components as dbc
import flask
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from app import controls
from app.api import symbol_list
from app.dashboard import read_connection
from db.symbols import display_symbol


class Pickers(TypedDict):
    """Options of the pickers (``dcc.Dropdown`` options), the note on chosen names without data (or None) and the
    date picker's ``(min_date_allowed, max_date_allowed, initial_visible_month)`` (:func:`date_limits`)."""

    exchanges: list[dict]
    symbols: list[dict]
    unknown: dbc.Alert | None
    dates: tuple[str, str, str] | tuple[None, None, None]


def picker_options(state: controls.ViewState) -> Pickers | None:
    """Every exchange and symbol with data (``db.queries.list_symbols`` on the cached known pairs) plus the chosen
    ones as picker options, the note naming chosen exchanges and symbols without data (:func:`unknown_note`) and the
    date picker's bounds (:func:`date_limits`) for view ``state``. None outside a request (Dash building its
    validation layout) or when the database is unreachable (the pickers then offer the chosen values only)."""
    if not flask.has_request_context():
        return None
    try:
        with read_connection() as conn:
            listed = symbol_list(conn)
    except SQLAlchemyError:
        return None
    exchanges, symbols = list(state.exchanges), list(state.symbols)
    return {
        "exchanges": [{"label": e, "value": e} for e in sorted(set(listed["exchange"]) | set(exchanges))],
        "symbols": [{"label": display_symbol(s), "value": s} for s in sorted(set(listed["symbol"]) | set(symbols))],
        "unknown": unknown_note(set(exchanges) - set(listed["exchange"]), set(symbols) - set(listed["symbol"])),
        "dates": date_limits(listed, exchanges, symbols),
    }  # fmt: skip


def date_limits(listed, exchanges: list[str], symbols: list[str]) -> tuple[str, str, str] | tuple[None, None, None]:
    """``(first day, last day, month to open on)`` (ISO dates, UTC) of the date picker: the days with data of the
    chosen pairs (of every listed pair when none of them has data), so the picker opens where data is rather than
    on the current month (issue 11, item 14). ``listed``: ``db.queries.list_symbols``."""
    chosen = listed[listed["symbol"].isin(symbols) & (listed["exchange"].isin(exchanges) if exchanges else True)]
    frame = chosen if len(chosen) else listed
    first, last = frame["first_time"].min(), frame["last_time"].max()
    if pd.isna(first) or pd.isna(last):
        return None, None, None
    return first.date().isoformat(), last.date().isoformat(), last.date().replace(day=1).isoformat()


def unknown_note(exchanges: set[str], symbols: set[str]) -> dbc.Alert | None:
    """The warning naming chosen exchanges and symbols that have no data anywhere (a link's ``symbols=FOO,BTC``:
    FOO is shown nowhere, and the page says so instead of keeping it without a word; issue 11, item 16)."""
    names = [f"exchange {e}" for e in sorted(exchanges)] + [f"symbol {display_symbol(s)}" for s in sorted(symbols)]
    if not names:
        return None
    return dbc.Alert(f"No data for {', '.join(names)}: not shown.", color="warning", dismissable=True,
                     className="ap-problems")  # fmt: skip
