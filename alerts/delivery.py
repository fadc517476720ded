"""Outbox sender: delivers queued ``alert_deliveries`` through apprise, in its own thread, so a slow or failing
channel never blocks evaluation.

A due delivery (``status = 'pending'``, ``next_attempt_at <= now``) is sent to its channel's apprise URL
(``ALPHAPULSE_ALERT_CHANNELS``, looked up by name at send time: the URL is never stored). Success → ``sent``.
Failure → ``attempts + 1``, retried after ``BACKOFF_BASE × 2^(attempts − 1)`` (capped at ``BACKOFF_MAX``), and
``failed`` after ``MAX_ATTEMPTS``; each failure adds a row ``alert_delivery_failures`` (unit ``count``, labels
``{"channel": name}``) to ``system_metrics``. ``last_error`` never contains the URL.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import apprise
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)
MAX_ATTEMPTS = 8
BATCH = 50

_DUE_SQL = """
SELECT d.id, d.channel, d.attempts, e.message FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
WHERE d.status = 'pending' AND d.next_attempt_at <= :now ORDER BY d.id LIMIT :batch FOR UPDATE OF d SKIP LOCKED
"""


def backoff(attempts: int) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures (≥ 1): 5 s, 10 s, 20 s … capped at 10 min."""
    return min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)


def send(url: str, message: str) -> str | None:
    """Send ``message`` (first line the title) to one apprise ``url``; ``None`` on success, else an error text
    without the URL."""
    title, _, body = message.partition("\n")
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "the channel URL is not a valid apprise URL"
    try:
        return None if notifier.notify(body=body or title, title=title) else "the channel refused or was unreachable"
    except Exception as exc:  # noqa: BLE001 - a plugin error must not stop the sender; its type is kept
        return f"apprise raised {type(exc).__name__}"


def send_due(engine: Engine, channels: Mapping[str, str], now: datetime | None = None,
             sender: Callable[[str, str], str | None] = send) -> tuple[int, int]:
    """Send every delivery due at ``now`` (aware UTC; default the clock), in batches of :data:`BATCH`;
    returns ``(sent, failed attempts)``."""
    sent = failed = 0
    while True:
        with engine.begin() as conn:
            clock = now or datetime.now(UTC)
            rows = conn.execute(text(_DUE_SQL), {"now": clock, "batch": BATCH}).all()
            for row in rows:
                url = channels.get(row.channel)
                error = sender(url, row.message) if url else "the channel is not configured"
                if error is None:
                    conn.execute(text("UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, "
                                      "sent_at = :t, last_error = NULL WHERE id = :id"), {"t": clock, "id": row.id})
                    sent += 1
                    continue
                failed += 1
                _record_failure(conn, row, error, clock)
        if len(rows) < BATCH:
            return sent, failed


def _record_failure(conn, row, error: str, now: datetime) -> None:
    attempts = row.attempts + 1
    status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
    conn.execute(text("UPDATE alert_deliveries SET status = :s, attempts = :a, next_attempt_at = :n, "
                      "last_error = :e WHERE id = :id"),
                 {"s": status, "a": attempts, "n": now + backoff(attempts), "e": error, "id": row.id})
    conn.execute(text("INSERT INTO system_metrics (time, metric, value, unit, labels) VALUES "
                      "(clock_timestamp(), 'alert_delivery_failures', 1, 'count', CAST(:l AS jsonb)) "
                      "ON CONFLICT DO NOTHING"), {"l": json.dumps({"channel": row.channel, "delivery": row.id})})
    log.warning("alert delivery %s to channel %s failed (attempt %d, %s): %s", row.id, row.channel, attempts,
                status, error)


class Sender(threading.Thread):
    """Daemon thread running :func:`send_due` whenever woken (:meth:`wake`, after a cycle queued deliveries) and
    at least every ``poll_seconds`` (retries); :meth:`stop` ends it after the current batch."""

    def __init__(self, engine: Engine, channels: Mapping[str, str], poll_seconds: float = 1.0):
        super().__init__(name="alerts-sender", daemon=True)
        self.engine, self.channels, self.poll_seconds = engine, channels, poll_seconds
        self._wake, self._halt = threading.Event(), threading.Event()

    def wake(self) -> None:
        """Send due deliveries now."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current batch."""
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                send_due(self.engine, self.channels)
            except Exception:  # noqa: BLE001 - the database may be away; try again on the next wake
                log.exception("alert sender: sending due deliveries failed")
