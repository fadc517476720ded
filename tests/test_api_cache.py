"""app.cache.TTLCache: values reused within the TTL, recomputed after it; errors are not cached."""

from __future__ import annotations

import pytest

from app.cache import TTLCache


def test_values_are_reused_within_the_ttl_and_recomputed_after():
    now = [100.0]
    calls = []
    cache = TTLCache(30.0, clock=lambda: now[0])

    def compute():
        calls.append(now[0])
        return len(calls)

    assert cache.get("k", compute) == 1
    now[0] += 29.9
    assert cache.get("k", compute) == 1
    now[0] += 0.2
    assert cache.get("k", compute) == 2
    assert cache.get("other", compute) == 3
    cache.clear()
    assert cache.get("k", compute) == 4


def test_errors_are_not_cached_and_negative_ttl_is_rejected():
    cache = TTLCache(30.0)

    def fail():
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get("k", fail)
    assert cache.get("k", lambda: "ok") == "ok"
    with pytest.raises(ValueError, match="ttl_seconds"):
        TTLCache(-1)
