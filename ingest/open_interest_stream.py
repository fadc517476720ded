"""Open interest of a venue's whole funding universe, on the funding cadence (``funding_poll_seconds``).

Each cycle asks the exchange with the fewest requests ccxt 4.5.90 allows, keeps the symbols of the universe
(:mod:`ingest.universe`; the configured symbols with ``ALPHAPULSE_FUNDING_UNIVERSE=symbols``) and sends one row per
symbol to the worker's sink (kind ``open_interest``, ``source='live'``):

* okx — ``fetch_open_interests()`` → ``GET /api/v5/public/open-interest?instType=SWAP`` (``oi`` contracts, ``oiUsd``
  notional): **1 request** per cycle;
* hyperliquid — ``fetch_open_interests()`` → ``POST /info {"type": "metaAndAssetCtxs"}`` (``openInterest`` in coins;
  notional = coins × the same answer's ``markPx``): **1 request**;
* bybit — ``fetch_tickers()`` → ``GET /v5/market/tickers?category=linear`` (``openInterest`` in the base coin,
  ``openInterestValue`` in USD; ccxt 4.5 has no ``fetchOpenInterests`` for Bybit and its ``fetch_open_interest``
  asks one symbol at a time): **1 request**;
* binanceusdm — ``fetch_open_interest(symbol)`` → ``GET /fapi/v1/openInterest?symbol=`` (contracts; notional = base
  × the funding stream's newest ``markPrice``): **one request per universe symbol** (Binance has no all-symbol open
  interest).

**Binance: the whole universe, one request per symbol.** ``/fapi/v1/openInterest`` weighs 1 against Binance's
2,400 per minute per IP; ~530 perpetuals on a 60 s cadence use ~530 (22 %), next to a few tens for the other
streams. The requests go one after the other through ccxt's rate limiter (50 ms per weight: a cycle takes ≥ 27 s),
so the other streams' requests interleave with them. Measured against the fake exchange: exactly one request per
universe symbol per cycle (``tests/test_ingest_universe_data.py``). A symbol the exchange refuses (``Unsupported``:
unknown or delisted) leaves this stream, logged once; one that fails transiently is skipped for the cycle (counted
in ``fetch_errors``).

Values: :func:`ingest.normalize.open_interest` (contracts, base = contracts × ``contractSize``, notional =
``openInterestValue`` else base × mark: the entry's own ``markPx`` on Hyperliquid, else the funding stream's newest
mark). A malformed entry (non-numeric, negative, missing) becomes a row that validation rejects and counts
(``rows_rejected``, logged); the other symbols are stored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime

from ingest.backfill import Sink
from ingest.exchange import ExchangeCallError, ExchangeClient, RateLimited, Unsupported
from ingest.normalize import open_interest
from ingest.open_interest import contract_size
from ingest.rows import OpenInterestRow, rows_to_frame

log = logging.getLogger(__name__)

#: Exchanges whose open interest is read from the all-symbol tickers (ccxt has no ``fetchOpenInterests`` there).
TICKER_OPEN_INTEREST = frozenset({"bybit"})


class OpenInterestStream:
    """Current open interest of ``universe`` (unified symbols) on ``client``'s exchange. ``marks`` is the worker's
    symbol → newest mark price (quote currency) of this exchange, ``sink`` its buffer, ``now()`` its clock (aware
    UTC); ``on_error(exchange, error_class)`` counts a symbol's transient failure."""

    def __init__(self, client: ExchangeClient, universe: list[str], *, marks: dict[str, float], sink: Sink,
                 now: Callable[[], datetime], on_error: Callable[[str, str], None]) -> None:
        self.client = client
        self.members = set(universe)
        self.marks = marks
        self.sink = sink
        self.now = now
        self.on_error = on_error

    async def cycle(self, client: ExchangeClient, symbols: list[str]) -> bool:
        """One poll (the worker's stream signature; ``symbols`` is the worker's list for this stream, emptied of
        symbols the exchange refuses). Returns True; raises the exchange's domain errors for an all-symbol call."""
        await self._send(await self.fetch(symbols))
        return True

    async def _send(self, structures: dict[str, dict]) -> None:
        received = self.now()
        rows = [open_interest(self.client.id, {**(v or {}), "symbol": s}, contract_size=contract_size(self.client, s),
                              source="live", received_at=received, price=_own_mark(v) or self.marks.get(s))
                for s, v in structures.items() if s in self.members]
        await self.sink("open_interest", rows_to_frame(rows, OpenInterestRow), self.client.id, "open_interest")

    async def fetch(self, symbols: list[str]) -> dict[str, dict]:
        """Open-interest structures by symbol (``{"openInterestAmount": contracts, "openInterestValue": quote
        notional or None, "timestamp": ms or None, "info": raw}``), by the venue's call of the module table."""
        if self.client.id in TICKER_OPEN_INTEREST:
            return {s: _from_ticker(t) for s, t in (await self.client.fetch_tickers()).items()}
        if self.client.has("fetchOpenInterests"):
            return await self.client.fetch_open_interests(None)
        return await self._per_symbol(symbols)

    async def _per_symbol(self, symbols: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for symbol in list(symbols):
            try:
                found[symbol] = await self.client.fetch_open_interest(symbol)
            except Unsupported as e:
                log.warning("%s open_interest %s: left out: %s", self.client.id, symbol, e.error_class)
                symbols.remove(symbol)
            except RateLimited:
                await self._send(found)  # keep what this cycle fetched; the worker backs off and retries
                raise
            except ExchangeCallError as e:
                self.on_error(self.client.id, e.error_class)
                log.warning("%s open_interest %s: skipped this cycle: %s", self.client.id, symbol, e.error_class)
        return found


def _from_ticker(ticker: dict) -> dict:
    """An open-interest structure from a Bybit linear ticker: ``info.openInterest`` (base coin = contracts on Bybit
    linear perpetuals), ``info.openInterestValue`` (USD notional), the ticker's ``timestamp``."""
    info = ticker.get("info") or {}
    return {"openInterestAmount": info.get("openInterest"), "openInterestValue": info.get("openInterestValue"),
            "timestamp": ticker.get("timestamp"), "info": info}


def _own_mark(structure: dict | None) -> float | None:
    """The mark price in the structure's own answer (Hyperliquid asset context ``markPx``), ``None`` without one."""
    info = (structure or {}).get("info")
    mark = info.get("markPx") if isinstance(info, dict) else None
    try:
        value = float(mark)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None
