"""Types shared by the per-exchange route modules: a route signature, an API error, query parsing.

A route is ``handler(view, query) -> body``: ``view`` is the clocked ``MarketView``, ``query`` the request's
query string as ``{name: value}`` (last value wins), ``body`` any JSON-serialisable object sent with HTTP 200.
A handler reports a client error by raising ``ApiError`` with the exchange's own status and JSON body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fake_exchange.view import MarketView

Query = dict[str, str]
Handler = Callable[[MarketView, Query], Any]


class ApiError(Exception):
    """An exchange-formatted error answer: HTTP ``status`` with JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def int_param(query: Query, name: str, error: Callable[[str], ApiError], default: int | None = None) -> int | None:
    """Integer query parameter ``name`` (``default`` when absent); raises ``error(message)`` if not an integer."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise error(f"parameter {name!r} is not an integer: {raw!r}") from None


def clamp_limit(limit: int | None, default: int, maximum: int) -> int:
    """The page size an exchange uses: ``default`` when not given, otherwise capped at ``maximum``."""
    return default if limit is None else max(1, min(limit, maximum))
