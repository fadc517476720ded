"""The limiter's one-round-trip Redis storage (``app.limit_storage``) against ``limits``' own, on a real Redis:
same counter keys and windows, and within a request the headers' reads answered from the hit."""

from __future__ import annotations

import time

import flask
from limits import parse
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.limit_storage import OneTripRedisStorage
from app.limits import storage_uri
from settings import get_settings


def test_hits_count_in_the_same_keys_and_headers_read_the_hit_once(redis_prefix):
    uri = storage_uri(get_settings().effective_redis_url)
    fast = storage_from_string(uri, key_prefix=redis_prefix)
    plain = RedisStorage(uri.removeprefix("alphapulse+"), key_prefix=redis_prefix)  # limits' own, same keys
    assert isinstance(fast, OneTripRedisStorage)
    item, limiter = parse("5 per minute"), FixedWindowRateLimiter(fast)
    key = item.key_for("test", "user")
    with flask.Flask(__name__).test_request_context():
        assert [limiter.hit(item, "test", "user") for _ in range(6)] == [True] * 5 + [False]
        expiry = plain.get_expiry(key)
        assert plain.get(key) == 6 and 0 < expiry - time.time() <= 60  # the counter and window limits keeps
        plain.clear(key)  # the headers' reads that follow are answered from the hit, not from Redis
        stats = limiter.get_window_stats(item, "test", "user")
        assert stats.remaining == 0 and abs(stats.reset_time - expiry) <= 1
        assert fast.get(key) == 0  # each kept value is read once: the next read asks Redis
    limiter.hit(item, "test", "user")  # outside a request nothing is kept
    assert fast.get(key) == plain.get(key) == 1
