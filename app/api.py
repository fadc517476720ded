"""The ``/api`` JSON blueprint and ``/metrics`` (Prometheus text format), read-only over ``db.queries``.

Endpoints (all GET; history endpoints take ``exchange``, ``symbols``, ``start``, ``end`` ISO-8601 UTC, ``bucket``
and ``format=json|csv``, see :mod:`app.params`):

* ``/api/health`` — database reachable, TimescaleDB version + licence, per exchange + stream newest time, lag
  and status (``db.health`` rules); HTTP 200 for ``ok``/``degraded``, 503 for ``down``. Not rate limited. A failed
  database check says so in generic words; the driver's message (hosts, ports, database names) is only logged.
* ``/api/symbols`` — ``db.queries.list_symbols``.
* ``/api/metrics`` — ``db.queries.latest_metrics`` (latest value of every pipeline metric + label set).
* ``/api/funding-rates``, ``/api/prices``, ``/api/anomalies`` — ``funding_series``, ``price_series``,
  ``anomaly_rows`` (anomalies also take ``metric``, ``min_abs_z`` and ``limit``).
* ``/metrics`` — pipeline metrics and feed health as Prometheus gauges (:mod:`app.prometheus`).

JSON bodies (orjson) are ``{"meta": {...}, "data": [records]}``: times ISO-8601 UTC (``…Z``), floats exact
(shortest round-trip repr), missing values ``null``, units as in the ``db.queries`` docstrings (funding rate =
fraction per interval). Errors are JSON
``{"error": message, "parameter": name}`` with 400/404 (see :func:`app.api_errors.register_error_handlers`); a database
outage is 503, never a stack trace.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pandas as pd
from flask import Blueprint, Response, current_app, request
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.api_errors import short_error
from app.cache import cache_key, shared_cache, ttl_for
from app.params import (
    HistoryQuery,
    ParamError,
    parse_choices,
    parse_float,
    parse_format,
    parse_history,
    parse_int,
    reject_repeated,
    reject_unknown,
)
from app.prometheus import render_metrics
from app.serialize import respond
from db import queries
from db.engine import probe_timescaledb, reading
from db.health import Status
from settings import Settings

log = logging.getLogger(__name__)

#: Key of the app's :class:`Settings` in ``Flask.config`` (the same key ``app.dashboard`` reads).
SETTINGS_KEY = "ALPHAPULSE_SETTINGS"
#: Default and largest ``limit`` of ``/api/anomalies``.
ANOMALY_LIMIT_DEFAULT, ANOMALY_LIMIT_MAX = 1000, 10_000
#: Orders of ``/api/anomalies``.
ANOMALY_SORTS = ("newest", "strongest")
#: What ``/api/health`` says when the database check fails (the detail goes to the log, never to clients).
HEALTH_DB_ERROR = "database unreachable or not initialised; see the server log"
def settings() -> Settings:
    """The :class:`Settings` the current app was created with."""
    return current_app.config[SETTINGS_KEY]


def pairs(conn: Connection) -> list[tuple[str, str]]:
    """``db.queries.known_pairs`` from the shared cache (``ALPHAPULSE_API_CACHE_SECONDS``, :mod:`app.cache`)."""
    return shared_cache().get("known_pairs", lambda: queries.known_pairs(conn), settings().api_cache_seconds)


def symbol_list(conn: Connection) -> pd.DataFrame:
    """``db.queries.list_symbols`` of the cached :func:`pairs`, from the shared cache like them (the API's
    ``/api/symbols`` and the pages' pickers share the entry)."""
    compute = lambda: queries.list_symbols(conn, pairs(conn))  # noqa: E731
    return shared_cache().get("list_symbols", compute, settings().api_cache_seconds)


def feed_health(conn: Connection, now: datetime) -> queries.FeedHealth:
    """``db.queries.feed_health`` of the configured exchanges at ``now`` (aware UTC), with the cached pairs (feeds
    silent longer than ``db.queries.HEALTH_LOOKBACK`` are answered from the ``pair_extents`` catalogue)."""
    cfg = settings()
    return queries.feed_health(conn, now, cfg.exchanges, queries.stream_cadences(cfg), pairs=pairs(conn))


@contextmanager
def connect():
    """A read connection as the app's role from this process's engine (``Settings.effective_read_url``: the
    replica of ``DATABASE_READ_URL`` when set, else ``Settings.database_url_for("app")``), in autocommit
    (``db.engine.reading``: the process's engine, recreated after fork)."""
    with reading(settings().effective_read_url) as conn:
        yield conn


def utcnow() -> datetime:
    """The request's "now": aware UTC (what live windows and cache lifetimes are measured from)."""
    return datetime.now(UTC)


def _iso(value):
    if isinstance(value, (datetime, pd.Timestamp)):
        return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return queries.bucket_name(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# --- views ------------------------------------------------------------------------------------------------------


def health() -> tuple[dict, int]:
    """``/api/health``: 200 with ``status`` ok/degraded, 503 with ``down`` (database unreachable, no
    TimescaleDB, or every feed down). Feeds: the configured exchanges × ``funding``/``ohlcv``."""
    reject_unknown(request.args, ())
    now = utcnow()
    try:
        with connect() as conn:
            info = probe_timescaledb(conn)
            fh = feed_health(conn, now)
    except (SQLAlchemyError, LookupError) as exc:  # the driver's text names hosts, ports and databases: log only
        log.warning("health: database check failed: %s: %s", type(exc).__name__, short_error(exc))
        body = {
            "status": Status.DOWN.value,
            "now": _iso(now),
            "database": {"reachable": False, "error": HEALTH_DB_ERROR},
        }
        return body, 503
    feeds = fh.feeds.astype(object).where(fh.feeds.notna(), None)
    body = {
        "status": fh.status.value,
        "now": _iso(now),
        "database": {"reachable": True, "timescaledb_version": info.version, "timescaledb_license": info.license},
        "feeds": [
            {
                **row,
                "newest_time": _iso(row["newest_time"]) if row["newest_time"] is not None else None,
                "status": str(row["status"]),
            }
            for row in feeds.to_dict(orient="records")
        ],  # fmt: skip
    }
    return body, 503 if fh.status == Status.DOWN else 200


def symbols() -> Response:
    """``/api/symbols``: every exchange + symbol with data (``streams`` joined by ``;`` in CSV); cached per app
    like :func:`pairs`, so first/last times may be up to ``ALPHAPULSE_API_CACHE_SECONDS`` old."""
    reject_unknown(request.args, ("format",))
    fmt = parse_format(request.args.get("format"))
    with connect() as conn:
        frame = symbol_list(conn).copy()
    frame["streams"] = [";".join(s) if fmt == "csv" else list(s) for s in frame["streams"]]
    return respond(frame, fmt, {}, "symbols")


def metrics() -> Response:
    """``/api/metrics``: the latest value of every pipeline metric + label set (JSON ``labels`` objects)."""
    reject_unknown(request.args, ("format",))
    fmt = parse_format(request.args.get("format"))
    with connect() as conn:
        frame = queries.latest_metrics(conn)
    if fmt == "csv":
        frame["labels"] = [json.dumps(labels, sort_keys=True) for labels in frame["labels"]]
    return respond(frame, fmt, {}, "metrics")


def history_response(
    name: str, extra: tuple[str, ...], fetch: Callable[[Connection, HistoryQuery], tuple[pd.DataFrame, dict]]
) -> Response:
    """The answer of history endpoint ``name``: the common parameters (and the endpoint's ``extra`` ones) parsed
    against the stored pairs, ``fetch(conn, query) -> (frame, meta)`` run through the shared cache (live or past
    lifetime), JSON or CSV by :func:`app.serialize.respond`; an empty answer carries the pairs' ``data_extent``.
    Raises :class:`ParamError` (400/404 naming the parameter), SQLAlchemy errors (503)."""
    cfg, now = settings(), utcnow()
    with connect() as conn:
        query = parse_history(request.args, pairs(conn), now, timedelta(days=cfg.api_max_range_days), extra)
        key = cache_key(name, query.exchanges, query.symbols, query.start, query.end, query.bucket,
                        tuple(request.args.get(k) for k in extra))  # fmt: skip
        frame, meta = shared_cache().get(key, lambda: fetch(conn, query), ttl_for(cfg, query.end, now))
        meta = {"exchanges": query.exchanges, "symbols": query.symbols, "start": query.start, "end": query.end,
                **meta}  # fmt: skip
        if frame.empty:
            extent = queries.data_extent(conn, query.exchanges, query.symbols)
            meta["data_extent"] = {"first_time": extent[0], "last_time": extent[1]} if extent else None
    return respond(frame, query.fmt, meta, name)


def bucket_width(query: HistoryQuery) -> timedelta:
    """The query's ``bucket``, else the finest width giving at most ``MAX_POINTS`` buckets over its range."""
    return query.bucket or queries.choose_bucket(query.start, query.end)


def funding_rates() -> Response:
    """``/api/funding-rates``: ``db.queries.funding_series`` (fraction per funding interval, bucket means)."""

    def fetch(conn, q):
        width = bucket_width(q)
        return queries.funding_series(conn, q.exchanges, q.symbols, q.start, q.end, width), {"bucket": width}

    return history_response("funding-rates", (), fetch)


def prices() -> Response:
    """``/api/prices``: ``db.queries.price_series`` (bucketed OHLCV of last-price candles, quote currency)."""

    def fetch(conn, q):
        width = bucket_width(q)
        return queries.price_series(conn, q.exchanges, q.symbols, q.start, q.end, width), {"bucket": width}

    return history_response("prices", (), fetch)


def anomalies() -> Response:
    """``/api/anomalies``: ``db.queries.anomaly_rows``; also ``metric`` (comma list of
    :data:`db.queries.ANOMALY_METRICS`), ``min_abs_z`` (>= 0), ``limit`` (1 … 10,000, default 1,000) and ``sort``
    (``newest``, the default, or ``strongest``: the ``limit`` rows of largest |z|, strongest first)."""
    args = request.args
    if "bucket" in args:
        raise ParamError("bucket", "bucket does not apply to /api/anomalies: each row is one observation")

    def fetch(conn, q):
        metric = parse_choices("metric", args.get("metric"), queries.ANOMALY_METRICS)
        min_abs_z = parse_float("min_abs_z", args.get("min_abs_z"), 0.0)
        limit = parse_int("limit", args.get("limit"), ANOMALY_LIMIT_DEFAULT, 1, ANOMALY_LIMIT_MAX)
        sort = parse_choices("sort", args.get("sort"), ANOMALY_SORTS) or ["newest"]
        if len(sort) != 1:
            raise ParamError("sort", "must be one of newest, strongest")
        strongest = sort[0] == "strongest"
        frame = queries.anomaly_rows(conn, q.exchanges, q.symbols, q.start, q.end, metric, min_abs_z, limit,
                                     strongest=strongest)
        if strongest:
            frame = frame.sort_values("z_score", key=abs, ascending=False, kind="stable", ignore_index=True)
        return frame, {"metric": metric, "min_abs_z": min_abs_z, "limit": limit, "sort": sort[0]}

    return history_response("anomalies", ("metric", "min_abs_z", "limit", "sort"), fetch)


def prometheus_metrics() -> Response:
    """``/metrics``: Prometheus text exposition (``prometheus_client``) of pipeline metrics and feed health."""
    reject_unknown(request.args, ())
    now = utcnow()
    with connect() as conn:
        latest = queries.latest_metrics(conn)
        fh = feed_health(conn, now)
    body, content_type = render_metrics(latest, fh, shared_cache().stats())
    return Response(body, content_type=content_type)


# --- wiring -----------------------------------------------------------------------------------------------------

ROUTES: tuple[tuple[str, Callable], ...] = (
    ("/health", health),
    ("/symbols", symbols),
    ("/metrics", metrics),
    ("/funding-rates", funding_rates),
    ("/prices", prices),
    ("/anomalies", anomalies),
)


def _no_repeated_parameters() -> None:
    reject_repeated(request.args.lists())


def create_blueprint() -> Blueprint:
    """A new ``/api`` blueprint (one per app: no state shared between apps or tests); every request is first
    checked for repeated query parameters (:func:`app.params.reject_repeated`)."""
    bp = Blueprint("api", __name__, url_prefix="/api")
    bp.before_request(_no_repeated_parameters)
    for rule, view in ROUTES:
        bp.add_url_rule(rule, view_func=view, methods=["GET"])
    return bp
