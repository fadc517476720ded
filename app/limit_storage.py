"""The rate-limit counters' Redis storage: ``limits``' own, with one round trip per limited request instead of three.

Flask-Limiter's fixed window costs, per request and limit, an ``INCRBY`` (+ ``EXPIRE`` on the window's first hit,
one Lua call) for the hit, then a ``GET`` and a ``TTL`` of the same key for the ``X-RateLimit-*`` headers
(``FixedWindowRateLimiter.get_window_stats``): ~0.6 ms of the ~1.9 ms of a refresh check on the bench database.
:class:`OneTripRedisStorage` makes the hit's Lua call return the count *and* the TTL, and keeps both in the
request's ``flask.g``; the header's ``get``/``get_expiry`` of that key in the same request read them from there
(once) instead of from Redis. The counter itself, its window and where it lives are unchanged (still one Redis key
per identity and window, shared by every worker and host): the limits of issue 10 are as strict as before. The
headers show the count right after this request's hit (a fresh ``GET`` could include other workers' hits of the
same instant; either is a snapshot). Outside a request (no ``flask.g``) nothing is kept.
"""

from __future__ import annotations

import time

import flask
from limits.storage import RedisStorage

#: URI scheme prefix that selects :class:`OneTripRedisStorage` (``limits`` picks a storage by URI scheme).
SCHEME_PREFIX = "alphapulse+"
_MEMO = "_alphapulse_limit_hits"

#: ``INCRBY`` the key, ``EXPIRE`` it on the window's first hit (as ``limits``' ``incr_expire.lua``), and return the
#: count and the key's TTL (seconds).
_INCR_TTL_LUA = """
local current = redis.call("incrby", KEYS[1], tonumber(ARGV[2]))
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""


class OneTripRedisStorage(RedisStorage):
    """``limits``' :class:`~limits.storage.RedisStorage` (same keys, same Lua semantics) whose ``incr`` keeps the
    count and expiry it saw for the rest of the request (module docstring). URIs: ``alphapulse+redis://…``,
    ``alphapulse+rediss://…``, ``alphapulse+redis+unix://…`` (the rest as ``limits`` takes it)."""

    STORAGE_SCHEME = [f"{SCHEME_PREFIX}redis", f"{SCHEME_PREFIX}rediss", f"{SCHEME_PREFIX}redis+unix"]

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_ttl = self.get_connection().register_script(_INCR_TTL_LUA)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the counter ``key`` (expiring ``expiry`` seconds after its first hit); returns it."""
        current, ttl = self.lua_incr_ttl([self.prefixed_key(key)], [expiry, amount])
        if flask.has_app_context():
            flask.g.setdefault(_MEMO, {})[key] = [int(current), max(int(ttl), 0) + time.time()]
        return int(current)

    def _kept(self, key: str, index: int):
        memo = getattr(flask.g, _MEMO, None) if flask.has_app_context() else None
        entry = memo.get(key) if memo else None
        if entry is None or entry[index] is None:
            return None
        value, entry[index] = entry[index], None  # each value is read once: a later read asks Redis again
        return value

    def get(self, key: str) -> int:
        """The counter ``key``: as this request's hit left it, else from Redis."""
        kept = self._kept(key, 0)
        return super().get(key) if kept is None else kept

    def get_expiry(self, key: str) -> float:
        """When the counter ``key`` expires (epoch seconds): as this request's hit saw it, else from Redis."""
        kept = self._kept(key, 1)
        return super().get_expiry(key) if kept is None else kept
