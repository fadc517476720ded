"""Market-wide funding endpoints (issue 8, item 10), GET, JSON ``{"meta", "data"}`` or CSV (``format=csv``):

* ``/api/funding/snapshot`` — :func:`db.queries.funding_snapshot`: the newest rate of every coin on every venue;
  ``exchange``, ``coins``, ``at`` (ISO-8601 UTC, default now), ``format``.
* ``/api/funding/spreads`` — :func:`db.queries.funding_spreads`: per coin the widest venue pair; same parameters.
* ``/api/funding/spread-history`` — :func:`db.queries.spread_history`: ``coin``, ``long_exchange``,
  ``short_exchange`` (all required), ``start``, ``end``, ``format``.
* ``/api/funding/accumulated`` — :func:`db.queries.accumulated_funding`: ``exchange``, ``coins``, ``start``,
  ``end``, ``format``.
* ``/api/funding/heatmap`` — :func:`db.queries.funding_heatmap` (``venues=true``: the per-venue values,
  :func:`db.queries.heatmap_venue_values`): ``exchange`` (one venue, or none: every venue averaged), ``coins``,
  ``start``, ``end``, ``bucket`` (default keeps ≤ 1,500 buckets), ``format``.
* ``/api/premium`` — :func:`db.queries.premium_series`: the history parameters of ``/api/funding-rates``.

``exchange`` is a comma list of ccxt ids (empty: all), ``coins`` a comma list of coins (``BTC``, ``pepe``) or market
spellings naming their coin (``BTCUSDT``). Units as the query docstrings: rates fractions per funding interval,
``annualised`` fractions per year (rate × 8,760 / the pair's own interval hours), premium in basis points. Bad
parameters are a JSON 400 naming the parameter, names without data a 404 (:mod:`app.params`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pandas as pd
from flask import Blueprint, Response, request

from app.api import bucket_width, connect, history_response, pairs, settings, utcnow
from app.cache import cache_key, shared_cache, ttl_for
from app.params import (
    ParamError,
    parse_bucket,
    parse_choices,
    parse_coins,
    parse_exchanges,
    parse_format,
    parse_range,
    parse_time,
    reject_unknown,
)
from app.serialize import json_records, matrix, respond
from db import queries
from db.coins import coin_of

#: Accepted values of ``venues`` on ``/api/funding/heatmap``.
BOOLEANS = ("true", "false")


def _selection(known: list[tuple[str, str]], single_exchange: bool = False) -> tuple[tuple | None, tuple | None]:
    """``(exchanges, coins)`` of the request, validated against the ``known`` pairs; ``exchanges`` None when not
    given (every venue), one name at most when ``single_exchange``."""
    args = request.args
    exchanges = parse_exchanges(args.get("exchange"), (e for e, _ in known)) if args.get("exchange") else None
    if single_exchange and exchanges is not None and len(exchanges) > 1:
        raise ParamError("exchange", "give one exchange, or none to average every venue")
    chosen = set(exchanges) if exchanges is not None else None
    coins = parse_coins(args.get("coins"), (s for e, s in known if chosen is None or e in chosen))
    return exchanges, coins


def _answer(name: str, parts: tuple, end: datetime, now: datetime, compute: Callable[[], pd.DataFrame],
            meta: dict, fmt: str, shape: Callable[[pd.DataFrame], object] = json_records) -> Response:
    """``compute()`` through the shared cache (key of ``name`` and ``parts``; lifetime by ``end``), answered as
    JSON with ``meta`` (``data``: ``shape`` of the frame, records by default) or CSV."""
    frame = shared_cache().get(cache_key(name, *parts), compute, ttl_for(settings(), end, now))
    return respond(frame, fmt, meta, name.replace("/", "-"), shape)


def _now_views(name: str, read: Callable) -> Response:
    """``/api/funding/snapshot`` and ``/spreads``: ``read(conn, exchanges, coins, at)`` at ``at`` (default now)."""
    reject_unknown(request.args, ("exchange", "coins", "at", "format"))
    now = utcnow()
    fmt = parse_format(request.args.get("format"))
    at = parse_time("at", request.args["at"]) if request.args.get("at") else now
    with connect() as conn:
        exchanges, coins = _selection(pairs(conn))
        meta = {"exchanges": exchanges, "coins": coins, "at": at}
        return _answer(name, (exchanges, coins, at), at, now, lambda: read(conn, exchanges, coins, at), meta, fmt)


def snapshot() -> Response:
    """``/api/funding/snapshot``: one row per coin + venue (``db.queries.funding_snapshot``)."""
    return _now_views("funding/snapshot", queries.funding_snapshot)


def spreads() -> Response:
    """``/api/funding/spreads``: per coin the venue pair of widest annualised funding (``db.queries.funding_spreads``),
    widest first."""
    return _now_views("funding/spreads", queries.funding_spreads)


def _window(now: datetime) -> tuple[datetime, datetime]:
    return parse_range(request.args, now, timedelta(days=settings().api_max_range_days))


def accumulated() -> Response:
    """``/api/funding/accumulated``: settled funding summed per coin + venue over ``[start, end)``."""
    reject_unknown(request.args, ("exchange", "coins", "start", "end", "format"))
    now = utcnow()
    fmt = parse_format(request.args.get("format"))
    with connect() as conn:
        exchanges, coins = _selection(pairs(conn))
        start, end = _window(now)
        meta = {"exchanges": exchanges, "coins": coins, "start": start, "end": end}
        compute = lambda: queries.accumulated_funding(conn, exchanges, coins, start, end)  # noqa: E731
        return _answer("funding/accumulated", (exchanges, coins, start, end), end, now, compute, meta, fmt)


#: ``venues`` value of ``/api/funding/heatmap`` -> (query, JSON ``data`` of its frame: :func:`app.serialize.matrix`,
#: rows coins or coin + venue pairs, columns bucket times; CSV stays one record per cell).
HEATMAP_SHAPES: dict[str, tuple[Callable, Callable[[pd.DataFrame], dict]]] = {
    "false": (queries.funding_heatmap, lambda f: matrix(f, ["coin"], ["annualised", "venues", "weighted"])),
    "true": (queries.heatmap_venue_values,
             lambda f: matrix(f, ["coin", "exchange", "symbol"], ["annualised", "settlements"],
                              ("open_interest_value",))),
}


def heatmap() -> Response:
    """``/api/funding/heatmap``: coins × buckets of annualised settled funding; ``venues=true`` for the per-venue
    values behind each cell. JSON ``data`` is a matrix (:data:`HEATMAP_SHAPES`), CSV one record per cell."""
    reject_unknown(request.args, ("exchange", "coins", "start", "end", "bucket", "venues", "format"))
    now = utcnow()
    fmt = parse_format(request.args.get("format"))
    venues = (parse_choices("venues", request.args.get("venues"), BOOLEANS) or ("false",))
    if len(venues) != 1:
        raise ParamError("venues", "venues must be true or false")
    with connect() as conn:
        exchanges, coins = _selection(pairs(conn), single_exchange=True)
        exchange = exchanges[0] if exchanges else None
        start, end = _window(now)
        width = parse_bucket(request.args.get("bucket"), start, end) or queries.choose_bucket(start, end)
        read, shape = HEATMAP_SHAPES[venues[0]]
        meta = {"exchange": exchange, "coins": coins, "start": start, "end": end, "bucket": width}
        compute = lambda: read(conn, exchange, coins, start, end, width)  # noqa: E731
        key = (exchange, coins, start, end, width, venues)
        return _answer("funding/heatmap", key, end, now, compute, meta, fmt, shape)


def _leg(name: str, known: list[tuple[str, str]], coin: str) -> str:
    """The one exchange of parameter ``name`` (required), which must hold funding data of ``coin`` (404 otherwise)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        raise ParamError(name, f"{name} is required (a ccxt exchange id)")
    try:
        exchange = parse_exchanges(raw, (e for e, _ in known))
    except ParamError as exc:
        raise ParamError(name, str(exc).replace("exchange", name, 1), exc.status) from None
    if len(exchange) != 1:
        raise ParamError(name, f"{name} takes one exchange")
    if coin not in {coin_of(s).name for e, s in known if e == exchange[0]}:
        raise ParamError(name, f"no data for coin {coin!r} on {name}={exchange[0]!r}", status=404)
    return exchange[0]


def spread_history() -> Response:
    """``/api/funding/spread-history``: settled annualised funding of both legs and their spread on a common grid
    (``db.queries.spread_history``)."""
    args = request.args
    reject_unknown(args, ("coin", "long_exchange", "short_exchange", "start", "end", "format"))
    now = utcnow()
    fmt = parse_format(args.get("format"))
    with connect() as conn:
        known = pairs(conn)
        try:
            coins = parse_coins(args.get("coin"), (s for _, s in known))
        except ParamError as exc:
            raise ParamError("coin", str(exc), exc.status) from None
        if coins is None or len(coins) != 1:
            raise ParamError("coin", "coin is required: one coin, e.g. BTC")
        legs = [_leg(name, known, coins[0]) for name in ("long_exchange", "short_exchange")]
        if legs[0] == legs[1]:
            raise ParamError("short_exchange", "short_exchange must differ from long_exchange")
        start, end = _window(now)
        meta = {"coin": coins[0], "long_exchange": legs[0], "short_exchange": legs[1], "start": start, "end": end}
        compute = lambda: queries.spread_history(conn, coins[0], legs[0], legs[1], start, end)  # noqa: E731
        return _answer("funding/spread-history", (coins[0], *legs, start, end), end, now, compute, meta, fmt)


def premium() -> Response:
    """``/api/premium``: ``db.queries.premium_series`` ((mark − index) / index in basis points, bucket means)."""

    def fetch(conn, q):
        width = bucket_width(q)
        return queries.premium_series(conn, q.exchanges, q.symbols, q.start, q.end, width), {"bucket": width}

    return history_response("premium", (), fetch)


ROUTES: tuple[tuple[str, Callable], ...] = (
    ("/funding/snapshot", snapshot),
    ("/funding/spreads", spreads),
    ("/funding/spread-history", spread_history),
    ("/funding/accumulated", accumulated),
    ("/funding/heatmap", heatmap),
    ("/premium", premium),
)


def add_markets_routes(bp: Blueprint) -> Blueprint:
    """Register the market-wide endpoints (GET) on the ``/api`` blueprint ``bp`` (before it is registered on the
    app); returns ``bp``."""
    for rule, view in ROUTES:
        bp.add_url_rule(rule, view_func=view, methods=["GET"])
    return bp
