"""Backoff with jitter for exchange calls (named constants; no magic numbers in the worker).

Delay before retry ``attempt`` (1, 2, …) is ``base × 2^(attempt−1)`` capped at ``cap``, then "full jitter"
(uniform in [delay/2, delay]) so many symbols/workers do not retry in lock-step (AWS architecture blog,
"Exponential Backoff And Jitter"). Rate limiting (``RateLimitExceeded``/``DDoSProtection``) uses a longer
base and cap: the exchange asked us to slow down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: First delay after a network error / timeout / exchange unavailable (seconds).
NETWORK_BASE_SECONDS = 1.0
#: Longest delay between network retries (seconds).
NETWORK_CAP_SECONDS = 60.0
#: First delay after HTTP 429 / DDoS protection (seconds).
RATE_LIMIT_BASE_SECONDS = 5.0
#: Longest delay after rate limiting (seconds).
RATE_LIMIT_CAP_SECONDS = 300.0


@dataclass(frozen=True)
class Backoff:
    """An exponential schedule: ``base`` and ``cap`` in seconds; ``scale`` multiplies both (tests use small
    scales to keep the schedule's shape while running fast)."""

    base: float
    cap: float
    scale: float = 1.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (≥ 1); raises ``ValueError`` for attempt < 1."""
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        ceiling = min(self.cap, self.base * 2 ** min(attempt - 1, 30)) * self.scale
        return (rng or random).uniform(ceiling / 2, ceiling)


def network_backoff(scale: float = 1.0) -> Backoff:
    """Schedule for ``NetworkError``/``RequestTimeout``/``ExchangeNotAvailable``/malformed responses."""
    return Backoff(NETWORK_BASE_SECONDS, NETWORK_CAP_SECONDS, scale)


def rate_limit_backoff(scale: float = 1.0) -> Backoff:
    """Longer schedule for ``RateLimitExceeded``/``DDoSProtection``."""
    return Backoff(RATE_LIMIT_BASE_SECONDS, RATE_LIMIT_CAP_SECONDS, scale)
