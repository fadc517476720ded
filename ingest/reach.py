"""Is each configured exchange reachable? One short check for ``make run``'s start-up output.

``make run`` loads the bundled history and starts the live worker in the background, whose failures go to
``var/log/ingest.log``; without internet the terminal said "dashboard ready" and nothing else. This check loads
each exchange's markets once (the worker's first call too), all exchanges at once with a short timeout, and prints
one line per exchange that cannot be reached, so the person at the terminal knows the dashboard shows recorded
history.
"""

from __future__ import annotations

import asyncio
import dataclasses

from ingest.exchange import ExchangeCallError, ExchangeClient
from settings import Settings

#: Longest wait for one exchange's answer (s); the whole check takes about this long when none answers.
CHECK_TIMEOUT_SECONDS = 8.0


async def _check_one(exchange_id: str, settings: Settings) -> str | None:
    """``None`` when ``exchange_id`` answered ``load_markets``, else the reason: ccxt's error class or a timeout."""
    try:
        async with ExchangeClient(exchange_id, settings) as client:
            await asyncio.wait_for(client.load_markets(), CHECK_TIMEOUT_SECONDS)
    except ExchangeCallError as exc:
        return exc.error_class  # ccxt's class (NetworkError, RequestTimeout…); its text names URLs: see the log
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    return None


async def unreachable_exchanges(settings: Settings) -> dict[str, str]:
    """``{exchange id: reason}`` for each of ``settings.exchanges`` whose markets could not be loaded (ccxt
    ``load_markets`` through :class:`~ingest.exchange.ExchangeClient`, at most :data:`CHECK_TIMEOUT_SECONDS` each,
    concurrently). Never raises for an exchange's failure; an exchange that answers is left out."""
    timeout = min(settings.exchange_timeout_seconds, CHECK_TIMEOUT_SECONDS)
    quick = dataclasses.replace(settings, exchange_timeout_seconds=timeout)
    reasons = await asyncio.gather(*(_check_one(e, quick) for e in settings.exchanges))
    return {e: r for e, r in zip(settings.exchanges, reasons, strict=True) if r is not None}


def report_lines(unreachable: dict[str, str]) -> list[str]:
    """The lines ``python -m ingest check-exchanges`` prints: one per unreachable exchange, or none."""
    return [
        f"[run] {exchange} unreachable ({reason}); the worker keeps retrying, pages show the data stored so far"
        for exchange, reason in unreachable.items()
    ]
