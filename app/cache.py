"""A tiny per-app, per-process time-to-live cache for slow-changing read results (no module-level state).

The list of exchange + symbol pairs with data (``db.queries.known_pairs``) needs a loose index scan over every
chunk of two hypertables (hundreds of milliseconds with a year of 1-day chunks), yet changes only when a symbol is
added; every API request validates its parameters against it. One :class:`TTLCache` lives in
``Flask.extensions`` of each app (``create_app``), so each gunicorn worker keeps its own copy for
``ALPHAPULSE_API_CACHE_SECONDS``; a new symbol shows up after at most that long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class TTLCache:
    """Values computed on demand and reused for ``ttl_seconds`` (monotonic clock); thread-safe (gthread workers).

    Two threads missing at once may both compute; the later result wins (harmless for idempotent reads).
    """

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_seconds < 0:
            raise ValueError(f"ttl_seconds must be >= 0, got {ttl_seconds}")
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, object]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key`` if younger than the TTL, else ``compute()`` (stored; exceptions propagate,
        nothing is stored)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        value = compute()
        with self._lock:
            self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
