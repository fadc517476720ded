"""Fault injection for the fake exchange: what can go wrong, which requests it hits, how a body is spoiled.

``FaultPlan.add(prefix, kind, count)`` arms ``count`` faults of ``kind`` for the next requests whose path
starts with ``prefix``; ``take(path)`` (called once per request by the server) disarms and returns one.
Faults are consumed in the order they were armed.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    """Kinds of injected failure and what the client sees (the ccxt class is what ccxt 4.5 raises)."""

    #: HTTP 429, ``Retry-After``, the exchange's rate-limit body -> DDoSProtection (Binance: ccxt maps 429
    #: itself), RateLimitExceeded (Bybit, OKX: from the body's error code)
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"  #: HTTP 500 text body -> ExchangeNotAvailable (a NetworkError)
    BAD_GATEWAY = "502"  #: HTTP 502 text body -> ExchangeNotAvailable
    UNAVAILABLE = "503"  #: HTTP 503 text body -> ExchangeNotAvailable
    TIMEOUT = "timeout"  #: no answer for ``delay_s`` seconds -> RequestTimeout when the client gives up sooner
    #: HTTP 200, body = the real JSON cut in half. ccxt 4.5 raises **nothing**: its ``fetch`` returns the
    #: unparsed body, so Bybit/OKX methods return empty results and Binance ones return rows of ``None``s.
    MALFORMED_JSON = "malformed_json"
    BAD_PAYLOAD = "bad_payload"  #: HTTP 200, valid JSON with impossible values (see ``spoil``); ccxt passes them on
    #: TCP connection reset (RST) instead of an answer -> ExchangeNotAvailable. aiohttp silently retries a GET
    #: once when a reused keep-alive connection is reset, so arm ``count=2`` to make one ccxt call fail.
    RESET = "reset"


@dataclass
class Fault:
    """One armed fault: ``kind`` on paths starting with ``prefix``; ``remaining`` uses left.
    ``delay_s``: how long a TIMEOUT stalls (seconds); ``retry_after_s``: the 429 ``Retry-After`` (seconds)."""

    prefix: str
    kind: FaultKind
    remaining: int
    delay_s: float = 5.0
    retry_after_s: int = 1


class FaultPlan:
    """Thread-safe list of armed faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm ``fault``; raises ``ValueError`` for a count below 1."""
        if fault.remaining < 1:
            raise ValueError(f"fault count must be >= 1, got {fault.remaining}")
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        """The first armed fault matching ``path`` (one use consumed), or ``None``."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()


#: Object keys whose values are prices or funding rates in the four exchanges' formats.
PRICE_KEYS = frozenset(
    {
        "markPrice", "indexPrice", "lastPrice", "price", "fundingRate", "lastFundingRate",  # binance, bybit
        "markPx", "idxPx", "last", "nextFundingRate",  # okx
        "funding", "oraclePx",  # hyperliquid
    }
)  # fmt: skip


def spoil(body: Any) -> Any:
    """A copy of a JSON ``body`` with impossible values, to test validation: in a list of candle arrays
    (``[time, open, high, low, close, …]`` in all three formats) the first candle's high and low are swapped
    so high < low; every price/funding value under a ``PRICE_KEYS`` key becomes the string ``"NaN"``.
    Returns the body unchanged where neither occurs."""
    if isinstance(body, dict):
        return {k: "NaN" if k in PRICE_KEYS else spoil(v) for k, v in body.items()}
    if isinstance(body, list):
        if body and all(isinstance(c, list) and len(c) >= 5 for c in body):
            first = list(body[0])
            high, low = first[2], first[3]
            if float(high) != float(low) and math.isfinite(float(high)):
                first[2], first[3] = low, high
            else:  # a flat candle cannot be inverted: make its high negative instead
                first[2] = "-" + str(high)
            return [first, *body[1:]]
        return [spoil(item) for item in body]
    return body
