"""Pure status rules of the data feeds (no database access): one place for ``/api/health`` and the System page.

A *feed* is one exchange + stream (``funding``: funding-rate snapshots; ``ohlcv``: 1-minute candles).
Its *lag* is how long ago its newest data became available, in seconds; its *cadence* is how often a
new row is expected: the stream's poll period, but never less than the period of the data itself
(:func:`expected_cadence`; a 1-minute candle closes once a minute however often it is polled, so a healthy candle
feed is up to a minute old). The rules, with ``k = lag / cadence``:

* ``ok``       — ``k <= OK_CADENCES`` (a few missed polls are normal: retries, exchange hiccups);
* ``degraded`` — ``OK_CADENCES < k <= DOWN_CADENCES``;
* ``down``     — ``k > DOWN_CADENCES`` or the feed has no data at all.

Overall status: ``down`` when the database is unreachable or every feed is down (nothing is fresh, a load
balancer should stop sending traffic: HTTP 503); ``degraded`` when any feed is not ok; else ``ok``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

#: Lag up to this many cadences is ``ok``.
OK_CADENCES = 3.0
#: Lag beyond this many cadences is ``down``.
DOWN_CADENCES = 10.0


#: Period of each stream's data (seconds): a new 1-minute candle exists once a minute. Funding snapshots carry the
#: exchange's observation time, new at every poll (period 0: the poll decides).
DATA_PERIOD_SECONDS: dict[str, float] = {"ohlcv": 60.0, "funding": 0.0}


def expected_cadence(stream: str, poll_seconds: float) -> float:
    """Seconds between new rows of ``stream`` when polled every ``poll_seconds``: the longer of the poll and the
    data's own period (:data:`DATA_PERIOD_SECONDS`; 0 for a stream not listed)."""
    return max(float(poll_seconds), DATA_PERIOD_SECONDS.get(stream, 0.0))


class Status(StrEnum):
    """Health of a feed or of the whole pipeline, best first."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


def feed_status(lag_seconds: float | None, cadence_seconds: float) -> Status:
    """Status of one feed from its lag (seconds; ``None``: no data) and expected cadence (seconds, > 0).

    Raises ``ValueError`` when ``cadence_seconds`` is not positive.
    """
    if cadence_seconds <= 0:
        raise ValueError(f"cadence_seconds must be positive, got {cadence_seconds!r}")
    if lag_seconds is None:
        return Status.DOWN
    ratio = max(lag_seconds, 0.0) / cadence_seconds
    if ratio <= OK_CADENCES:
        return Status.OK
    if ratio <= DOWN_CADENCES:
        return Status.DEGRADED
    return Status.DOWN


def overall_status(feed_statuses: Iterable[Status], database_ok: bool = True) -> Status:
    """Pipeline status from the feeds' statuses (rules in the module docstring).

    No feeds at all counts as ``down`` (nothing is being ingested).
    """
    statuses = list(feed_statuses)
    if not database_ok or not statuses or all(s == Status.DOWN for s in statuses):
        return Status.DOWN
    if all(s == Status.OK for s in statuses):
        return Status.OK
    return Status.DEGRADED
