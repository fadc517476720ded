"""Feed health: newest data time per exchange + stream, lag against the cadence, status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, text

from db.health import Status, expected_cadence, feed_status, overall_status
from db.queries.common import STREAMS, pair_params, require_aware
from db.queries.pairs import known_pairs
from settings import Settings, get_settings


@dataclass(frozen=True)
class FeedHealth:
    """Health of every feed (exchange + stream) at ``now``; rules in :mod:`db.health`.

    ``feeds`` columns: ``exchange``, ``stream`` (:data:`STREAMS`), ``newest_time`` (UTC time the newest data
    became available: funding row time; 1-minute candle open + 1 min; NaT when none), ``lag_seconds``
    (``now − newest_time``, NaN when none), ``cadence_seconds`` (expected seconds between rows), ``status``
    (``ok``/``degraded``/``down``). ``status`` is the overall :class:`~db.health.Status`.
    """

    now: datetime
    feeds: pd.DataFrame
    status: Status


_NEWEST_SQL = """
SELECT p.exchange, max(f.time) AS funding, max(c.time) + interval '1 minute' AS ohlcv
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
LEFT JOIN LATERAL (SELECT e.time FROM (VALUES (true), (false)) AS k(v) CROSS JOIN LATERAL (
    SELECT time FROM funding_rates WHERE exchange = p.exchange AND symbol = p.symbol AND settled = k.v
      AND time <= :now AND time > :since ORDER BY time DESC LIMIT 1) e ORDER BY e.time DESC LIMIT 1) f ON true
LEFT JOIN LATERAL (SELECT time FROM prices WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = '1m'
      AND price_kind = 'last' AND time <= :now AND time > :since ORDER BY time DESC LIMIT 1) c ON true
GROUP BY p.exchange
"""

#: Feed health first looks this far back (plan-time chunk exclusion keeps the probes to the newest chunks); only
#: exchanges with a stream silent for longer are probed again without the bound (they are down either way).
HEALTH_LOOKBACK = timedelta(hours=6)
#: Lower bound of the unbounded probe (any stored time is later).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def newest_times(conn: Connection, pairs: Sequence[tuple[str, str]], now: datetime,
                 since: datetime = EPOCH) -> dict[str, dict]:
    """``{exchange: {"funding": time | None, "ohlcv": time | None}}``: per exchange the newest funding row time and
    1-minute candle close time (open + 1 min), UTC, of ``pairs`` in ``(since, now]`` (one ``LIMIT 1`` index probe
    per pair and stream). Exchanges without a pair in ``pairs`` are absent."""
    params = {**pair_params(pairs), "now": now, "since": since}
    return {row.exchange: {"funding": row.funding, "ohlcv": row.ohlcv}
            for row in conn.execute(text(_NEWEST_SQL), params)}


_CATALOGUE_NEWEST_SQL = """
SELECT p.exchange, max(e.last_time) FILTER (WHERE e.stream = 'funding') AS funding,
       max(e.last_time) FILTER (WHERE e.stream = 'ohlcv') + interval '1 minute' AS ohlcv,
       array_agg(DISTINCT p.symbol) FILTER (WHERE e.last_time > :now) AS ahead
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
JOIN pair_extents e ON e.exchange = p.exchange AND e.symbol = p.symbol
GROUP BY p.exchange
"""


def catalogue_newest(conn: Connection, pairs: Sequence[tuple[str, str]], now: datetime) -> dict[str, dict]:
    """:func:`newest_times` of ``pairs`` at ``now`` read from the ``pair_extents`` catalogue (its newest row per
    pair and stream: the newest 1-minute candle's open, as rollup candles start earlier); pairs with rows after
    ``now`` (a view of the past) are probed instead (:func:`newest_times`). Same shape as :func:`newest_times`."""
    newest: dict[str, dict] = {}
    ahead: list[tuple[str, str]] = []
    for row in conn.execute(text(_CATALOGUE_NEWEST_SQL), {**pair_params(pairs), "now": now}):
        if row.ahead:
            ahead += [(row.exchange, symbol) for symbol in row.ahead]
        else:
            newest[row.exchange] = {"funding": row.funding, "ohlcv": row.ohlcv}
    newest.update(newest_times(conn, [p for p in pairs if p[0] in {e for e, _ in ahead}], now) if ahead else {})
    return newest


def _newest(conn: Connection, pairs: Sequence[tuple[str, str]], now: datetime,
            older: Callable[[list[tuple[str, str]]], dict[str, dict]] | None = None) -> dict[str, dict]:
    """:func:`newest_times` of ``pairs`` within :data:`HEALTH_LOOKBACK`; exchanges with a stream silent that long
    are probed again without the bound (``older(stale_pairs)``, e.g. a cached :func:`newest_times`), keeping the
    newer time per stream."""
    newest = newest_times(conn, pairs, now, now - HEALTH_LOOKBACK)
    stale = [p for p in pairs if None in newest.get(p[0], {None: None}).values()]
    if stale:
        for exchange, times in (older(stale) if older else catalogue_newest(conn, stale, now)).items():
            recent = newest.setdefault(exchange, {})
            for stream, time_ in times.items():
                recent[stream] = max((t for t in (recent.get(stream), time_) if t is not None), default=None)
    return newest


def stream_cadences(settings: Settings) -> dict[str, float]:
    """Expected cadence (seconds) of each stream of :data:`STREAMS` under ``settings``' poll periods
    (``db.health.expected_cadence``: a 1-minute candle feed polled every 5 s is expected once a minute)."""
    polls = {"funding": settings.funding_poll_seconds, "ohlcv": settings.ohlcv_poll_seconds}
    return {stream: expected_cadence(stream, poll) for stream, poll in polls.items()}


def feed_health(
    conn: Connection,
    now: datetime,
    exchanges: Sequence[str] | None = None,
    cadences: dict[str, float] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    older: Callable[[list[tuple[str, str]]], dict[str, dict]] | None = None,
) -> FeedHealth:
    """Lag and status of each ``exchanges`` × ``cadences`` stream at ``now`` (aware UTC).

    ``exchanges`` default to the configured ``ALPHAPULSE_EXCHANGES``; ``cadences`` map a stream of
    :data:`STREAMS` to its expected cadence in seconds (default: ``db.health.expected_cadence`` of the settings'
    ``funding_poll_seconds`` and ``ohlcv_poll_seconds``, so a 1-minute candle feed polled every 5 s is expected once
    a minute); ``pairs`` (e.g. a cached :func:`known_pairs`) saves reading the catalogue. The newest
    row of an exchange is the newest of its symbols' ``LIMIT 1`` index probes, first within
    :data:`HEALTH_LOOKBACK`; ``older(stale_pairs)`` answers for exchanges silent that long (default:
    :func:`catalogue_newest`, a read of the ``pair_extents`` catalogue instead of unbounded probes that took
    ~60-80 ms with a year of 1-day chunks). Raises ``ValueError`` for a naive
    ``now`` or an unknown stream name.
    """
    require_aware(now=now)
    settings = get_settings()
    exchanges = settings.exchanges if exchanges is None else exchanges
    cadences = stream_cadences(settings) if cadences is None else cadences
    unknown = set(cadences) - set(STREAMS)
    if unknown:
        raise ValueError(f"unknown streams {sorted(unknown)}; known: {', '.join(STREAMS)}")
    wanted = [p for p in (known_pairs(conn) if pairs is None else pairs) if p[0] in exchanges]
    newest = _newest(conn, wanted, now, older)
    rows = []
    for exchange in exchanges:
        for stream, cadence in cadences.items():
            time_ = newest.get(exchange, {}).get(stream)
            lag = (now - time_).total_seconds() if time_ is not None else None
            rows.append(
                {
                    "exchange": exchange, "stream": stream, "newest_time": time_,
                    "lag_seconds": lag, "cadence_seconds": float(cadence), "status": feed_status(lag, cadence),
                }  # fmt: skip
            )
    feeds = pd.DataFrame(rows, columns=["exchange", "stream", "newest_time", "lag_seconds", "cadence_seconds",
                                        "status"])
    feeds["newest_time"] = pd.to_datetime(feeds["newest_time"], utc=True)
    feeds["lag_seconds"] = feeds["lag_seconds"].astype("float64")
    return FeedHealth(now=now, feeds=feeds, status=overall_status(feeds["status"]))

