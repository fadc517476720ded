"""The query-result cache shared by every gunicorn worker and app host: Flask-Caching's ``RedisCache``.

One :class:`SharedCache` per app (``create_app`` → ``init_cache``), in ``Flask.extensions``; it keeps nothing in
the process but its Redis client. Values are pickled (Flask-Caching/cachelib's Redis serializer), so Redis must
be as private as the database: nobody but the app may write to it (README, "Shared state in Redis").

* Keys: :func:`cache_key` of a name and the query's parameters (exchanges, symbols, window, bucket…), under the
  namespace ``<ALPHAPULSE_REDIS_PREFIX>:cache:<hash of the read database URL>:`` so apps on different databases
  never share entries.
* Time to live: :func:`ttl_for` — ``ALPHAPULSE_CACHE_LIVE_SECONDS`` for a range that ends within
  :data:`PAST_MARGIN` of now (live views: N analysts on one view cost about one query per that period),
  ``ALPHAPULSE_CACHE_PAST_SECONDS`` for one wholly in the past (rows may still be backfilled there: they show
  after that long); lists of pairs/symbols ``ALPHAPULSE_API_CACHE_SECONDS``.
* Hit ratio: every lookup adds 1 to the Redis counter ``stats:lookups`` in the same round trip as its ``GET``
  (a pipeline), and a miss 1 to ``stats:missed`` (hits = lookups − misses; shared, so ``/metrics`` and the System
  page show the deployment's ratio, not one worker's): :meth:`SharedCache.stats`.
* Redis unavailable: the value is computed (every request queries the database, nothing fails), a warning is
  logged once, and Redis is tried again after :data:`RETRY_SECONDS`; "available again" is logged once too.
  Errors of ``compute`` propagate and nothing is stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import flask
import redis
from flask_caching import Cache

from settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Key of the app's :class:`SharedCache` in ``Flask.extensions``.
CACHE_KEY = "alphapulse_cache"
#: Seconds the cache is bypassed after a Redis error before Redis is tried again.
RETRY_SECONDS = 5.0
#: Redis socket timeouts (seconds): a cache that does not answer at once is skipped, never waited for.
REDIS_TIMEOUT = 0.25
#: A range ending at least this long before now counts as wholly in the past (ingest polls every minute and a
#: candle is written when it closes, so the newest minute or two may still change).
PAST_MARGIN = timedelta(minutes=5)


def cache_key(name: str, *parts: Hashable) -> str:
    """``name:<sha1 of the parts' repr>``: a short, stable Redis key for a query and its parameters."""
    return f"{name}:{hashlib.sha1(repr(parts).encode()).hexdigest()[:24]}"


def ttl_for(settings: Settings, end: datetime, now: datetime) -> float:
    """Seconds to keep the result of a query over a range ending at ``end`` (aware UTC) at ``now``."""
    return settings.cache_past_seconds if end <= now - PAST_MARGIN else settings.cache_live_seconds


@dataclass(frozen=True)
class CacheStats:
    """Lookups since the Redis server started (or the counters expired): ``hits``, ``misses``, ``ratio``
    (hits / lookups, None before any); ``available`` False when Redis did not answer."""

    hits: int
    misses: int
    available: bool

    @property
    def ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class SharedCache:
    """Get-or-compute over Flask-Caching's Redis backend with hit/miss counters (module docstring)."""

    def __init__(self, server: flask.Flask, settings: Settings) -> None:
        url_hash = hashlib.sha1(settings.effective_read_url.encode()).hexdigest()[:8]
        self._cache = Cache(app=server, config={
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": settings.effective_redis_url,
            "CACHE_KEY_PREFIX": f"{settings.redis_prefix}:cache:{url_hash}:",
            "CACHE_OPTIONS": {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT},
        })  # fmt: skip
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False

    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_SECONDS
            if not self._down:
                self._down = True
                log.warning("shared cache: Redis unavailable (%s); computing every result until it answers "
                            "(retry every %g s)", exc, RETRY_SECONDS)  # fmt: skip

    def _answered(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("shared cache: Redis available again")

    def get(self, key: str, compute: Callable[[], T], ttl: float) -> T:
        """The cached value of ``key`` (see :func:`cache_key`), else ``compute()`` stored for ``ttl`` seconds
        (rounded up to whole seconds, at least 1). Two workers missing at once may both compute (harmless for
        reads). Never raises for Redis; ``compute``'s errors propagate."""
        if self._usable():
            try:
                value = self._lookup(key)
                self._answered()
                if value is not None:
                    return value
                self._cache.cache.inc("stats:missed")  # the backend: cachelib INCR; the compute costs far more
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        value = compute()
        if self._usable() and value is not None:
            try:
                self._cache.set(key, value, timeout=max(1, int(-(-ttl // 1))))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        return value

    def stats(self) -> CacheStats:
        """The shared hit/miss counters (zeros and ``available=False`` when Redis does not answer)."""
        try:
            lookups, misses = self._cache.get_many("stats:lookups", "stats:missed")
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return CacheStats(0, 0, False)
        self._answered()
        lookups, misses = int(lookups or 0), int(misses or 0)
        return CacheStats(max(lookups - misses, 0), misses, True)

    def _lookup(self, key: str):
        """The stored value of ``key`` (None when absent), counting the lookup in the same round trip: ``GET`` and
        ``INCR stats:lookups`` in one pipeline on Flask-Caching's backend (cachelib's ``RedisCache``: its client,
        key prefix and serializer, as its own ``get`` and ``inc`` use them)."""
        backend = self._cache.cache
        prefix = backend._get_prefix()
        pipe = backend._write_client.pipeline(transaction=False)
        raw, _ = pipe.get(f"{prefix}{key}").incr(f"{prefix}stats:lookups").execute()
        return backend.serializer.loads(raw)


def init_cache(server: flask.Flask, settings: Settings) -> SharedCache:
    """Create the app's :class:`SharedCache` and store it in ``server.extensions``."""
    cache = SharedCache(server, settings)
    server.extensions[CACHE_KEY] = cache
    return cache


def shared_cache() -> SharedCache:
    """The :class:`SharedCache` of the app serving the current request."""
    return flask.current_app.extensions[CACHE_KEY]
