"""``GET /api/open-interest``: open interest per exchange + symbol, bucketed in the database.

Same parameters, validation, caching and JSON/CSV conventions as ``/api/funding-rates`` (``exchanges``,
``symbols``, ``start``, ``end``, ``bucket``, ``format``; bad values are a JSON 400 naming the parameter, unknown
pairs 404): rows of :func:`db.queries.open_interest_series` — open interest in contracts, base-asset units and
quote-currency notional, the value of each bucket's last row.
"""

from __future__ import annotations

from flask import Blueprint, Response

from app.api import bucket_width, history_response
from db import queries


def open_interest() -> Response:
    """``/api/open-interest``: ``db.queries.open_interest_series`` (contracts, base units, quote notional; each
    bucket's last value). Raises :class:`app.params.ParamError` (400/404) for bad parameters."""

    def fetch(conn, q):
        width = bucket_width(q)
        return queries.open_interest_series(conn, q.exchanges, q.symbols, q.start, q.end, width), {"bucket": width}

    return history_response("open-interest", (), fetch)


def add_open_interest_route(bp: Blueprint) -> Blueprint:
    """Register ``/open-interest`` (GET) on the ``/api`` blueprint ``bp`` (before it is registered on the app);
    returns ``bp``."""
    bp.add_url_rule("/open-interest", view_func=open_interest, methods=["GET"])
    return bp
