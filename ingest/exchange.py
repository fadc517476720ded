"""The only module that uses ccxt: async client factory, typed fetches, ccxt errors → domain errors.

ccxt is imported through :mod:`ingest.ccxt_lazy`, which loads only the exchanges used (−47 MB RSS).

Clients are ``ccxt.async_support`` exchanges with ``enableRateLimit`` (ccxt spaces requests by the
exchange's documented weight limits), ``timeout`` from ``settings.exchange_timeout_seconds``, linear swaps as
the default market type, and, when ``settings.exchange_base_url`` is set, every API URL pointed there
(:func:`ingest.ccxt_urls.override_api_urls`).

ccxt errors are translated once, here, chained with ``from e`` (freqtrade's habit); ``error_class`` keeps
the ccxt class name for the ``fetch_errors`` metric:

=========================================================  ==========================  =====================
ccxt exception                                             domain error                worker reaction
=========================================================  ==========================  =====================
RateLimitExceeded, DDoSProtection                          :class:`RateLimited`        long backoff
NetworkError, RequestTimeout, ExchangeNotAvailable,        :class:`TransientError`     backoff with jitter
BadResponse (malformed JSON, see below), other ExchangeError
BadSymbol, NotSupported                                    :class:`Unsupported`        stream stops, 1 log line
=========================================================  ==========================  =====================

ccxt 4.5 silently returns the raw text when a 200 body is truncated JSON; the clients here parse strictly
and raise ``ccxt.BadResponse`` instead, so a malformed body is retried and counted, never read as rows of
``None``.
"""

from __future__ import annotations

import contextlib
import email.utils

from ingest.ccxt_lazy import ccxt, ccxt_async
from ingest.ccxt_urls import override_api_urls
from settings import Settings

#: ccxt options per exchange on top of ``defaultType=swap``: load only the market types holding the linear
#: perpetuals the worker follows. ccxt's defaults also load spot pairs, dated futures and options: Bybit ``spot``,
#: ``inverse`` and the options of six coins (``GET /v5/market/instruments-info`` per category), OKX ``spot``,
#: ``futures`` and ``option`` (``GET /api/v5/public/instruments`` per type), Hyperliquid spot pairs and the
#: builder-deployed "HIP-3" perp dexes (~10 more ``metaAndAssetCtxs`` calls): requests at every start and
#: thousands of markets held in memory for nothing. Bybit ``linear`` = USDT and USDC perpetuals (and USDC dated
#: futures, which the universe filters out); OKX ``swap`` = perpetuals, linear and inverse.
EXCHANGE_OPTIONS = {
    "bybit": {"fetchMarkets": {"types": ["linear"]}},
    "okx": {"fetchMarkets": {"types": ["swap"]}},
    "hyperliquid": {"fetchMarkets": {"types": ["swap"]}},
}
#: Exchanges whose settled-funding history has an all-symbol form that ccxt passes on (``symbol=None``): Binance USD-M
#: ``GET /fapi/v1/fundingRate`` without ``symbol`` (up to 1,000 rows of every symbol from ``startTime``).
ALL_SYMBOL_HISTORY = frozenset({"binanceusdm"})
#: Unified timeframe of the candle stream and its width in ms.
TIMEFRAME = "1m"
TIMEFRAME_MS = 60_000


class ExchangeCallError(Exception):
    """A failed exchange call. ``exchange``: ccxt id; ``error_class``: the ccxt exception class name."""

    def __init__(self, exchange: str, error_class: str, message: str) -> None:
        super().__init__(f"{exchange}: {error_class}: {message}")
        self.exchange = exchange
        self.error_class = error_class


class TransientError(ExchangeCallError):
    """Network trouble, timeout, exchange unavailable or a malformed answer: retry with backoff."""


class RateLimited(ExchangeCallError):
    """HTTP 429 / DDoS protection: retry with the longer rate-limit backoff."""


class Unsupported(ExchangeCallError):
    """Unknown symbol or unsupported method on this exchange: the stream stops (logged once)."""


def _translate(exchange: str, exc: Exception) -> ExchangeCallError:
    name = type(exc).__name__
    message = str(exc)[:200]
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RateLimited(exchange, name, message)
    if isinstance(exc, (ccxt.BadSymbol, ccxt.NotSupported)):
        return Unsupported(exchange, name, message)
    return TransientError(exchange, name, message)


def _strict_parse_json(self, http_response):
    """``parse_json`` that raises ``ccxt.BadResponse`` for a body that looks like JSON but does not parse."""
    if ccxt_async.Exchange.is_json_encoded_object(http_response):
        try:
            return self.on_json_response(http_response)
        except ValueError as exc:
            raise ccxt.BadResponse(f"{self.id}: malformed JSON body ({len(http_response)} chars): "
                                   f"{http_response[:80]!r}") from exc
    return None


def create_client(exchange_id: str, settings: Settings) -> ccxt_async.Exchange:
    """A configured async ccxt client for ``exchange_id`` (``binanceusdm``, ``bybit``, ``okx`` …).

    Raises :class:`Unsupported` for an id ccxt does not know. The caller must ``await client.close()``."""
    try:
        base = getattr(ccxt_async, exchange_id)
    except AttributeError as e:
        raise Unsupported(exchange_id, "NotSupported", "unknown ccxt exchange id") from e
    strict = type(f"Strict{base.__name__}", (base,), {"parse_json": _strict_parse_json})
    client = strict({
        "enableRateLimit": True,
        "timeout": int(settings.exchange_timeout_seconds * 1000),
        "options": {"defaultType": "swap", **EXCHANGE_OPTIONS.get(exchange_id, {})},
    })
    if settings.exchange_base_url:
        override_api_urls(client, settings.exchange_base_url)
    return client


class ExchangeClient:
    """Typed fetches over one async ccxt client; every method raises only :class:`ExchangeCallError`
    subclasses. ``id``: the ccxt exchange id. Use ``async with`` or call :meth:`close`."""

    def __init__(self, exchange_id: str, settings: Settings) -> None:
        self.id = exchange_id
        self.client = create_client(exchange_id, settings)

    async def __aenter__(self) -> ExchangeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (errors while closing are ignored)."""
        with contextlib.suppress(Exception):  # closing a dead session must not mask the real error
            await self.client.close()

    async def _call(self, method: str, *args, **kwargs):
        try:
            return await getattr(self.client, method)(*args, **kwargs)
        except ccxt.BaseError as e:
            raise _translate(self.id, e) from e

    def server_time_ms(self) -> int | None:
        """The exchange's time when it sent its latest answer: the HTTP ``Date`` header (RFC 9110; whole seconds,
        rounded down, so a candle closing at or before it is surely closed), in UTC ms; ``None`` without one."""
        headers = self.client.last_response_headers or {}
        raw = next((v for k, v in headers.items() if k.lower() == "date"), None)
        try:
            return int(email.utils.parsedate_to_datetime(raw).timestamp() * 1000) if raw else None
        except (TypeError, ValueError):
            return None

    def has(self, capability: str) -> bool:
        """``exchange.has[capability]`` is truthy (e.g. ``fetchFundingRates``)."""
        return bool(self.client.has.get(capability))

    async def load_markets(self) -> dict:
        """ccxt markets by unified symbol (cached by ccxt after the first call)."""
        return await self._call("load_markets")

    async def fetch_funding_rates(self, symbols: list[str] | None) -> dict[str, dict]:
        """Current (predicted) funding-rate structures by symbol (``symbols=None``: every market the exchange's
        answer holds): one call when ``fetchFundingRates`` is supported (Binance ``GET /fapi/v1/premiumIndex``,
        Bybit ``GET /v5/market/tickers?category=linear``, OKX ``GET /api/v5/public/funding-rate?instId=ANY``,
        Hyperliquid ``POST /info {"type": "metaAndAssetCtxs"}``: all symbols in one answer), else one
        ``fetch_funding_rate`` per symbol (``None``: per loaded swap market). Raises :class:`Unsupported` when
        neither is supported."""
        if self.has("fetchFundingRates"):
            return await self._call("fetch_funding_rates", symbols)
        if not self.has("fetchFundingRate"):
            raise Unsupported(self.id, "NotSupported", "fetchFundingRate(s) not supported")
        wanted = symbols if symbols is not None else [s for s, m in (self.client.markets or {}).items() if m["swap"]]
        return {s: await self._call("fetch_funding_rate", s) for s in wanted}

    async def fetch_funding_intervals(self, symbols: list[str] | None) -> dict[str, dict]:
        """Funding-interval structures by symbol (``{"interval": "4h", …}``; ``symbols=None``: all the answer
        holds), ``{}`` when unsupported. Binance ``GET /fapi/v1/fundingInfo`` lists only the symbols whose interval,
        cap or floor was adjusted (see :data:`ingest.backfill.UNLISTED_INTERVAL_HOURS`)."""
        if not self.has("fetchFundingIntervals"):
            return {}
        return await self._call("fetch_funding_intervals", symbols)

    async def fetch_ohlcv(self, symbol: str, since_ms: int | None, limit: int | None = None) -> list[list]:
        """1-minute candles ``[[open_ms, o, h, l, c, volume], …]`` from ``since_ms`` (oldest first)."""
        if not self.has("fetchOHLCV"):
            raise Unsupported(self.id, "NotSupported", "fetchOHLCV not supported")
        return await self._call("fetch_ohlcv", symbol, TIMEFRAME, since_ms, limit)

    async def fetch_funding_history(self, symbol: str | None, since_ms: int | None,
                                    limit: int | None = None) -> list[dict]:
        """Settled funding ``[{"symbol": unified, "timestamp": ms, "fundingRate": fraction, …}, …]`` from
        ``since_ms``, oldest first. ``symbol=None``: every symbol's, where the exchange has an all-symbol form and
        ccxt passes it on (Binance ``GET /fapi/v1/fundingRate`` without ``symbol``: :data:`ALL_SYMBOL_HISTORY`)."""
        if not self.has("fetchFundingRateHistory"):
            raise Unsupported(self.id, "NotSupported", "fetchFundingRateHistory not supported")
        return await self._call("fetch_funding_rate_history", symbol, since_ms, limit)

    async def fetch_open_interests(self, symbols: list[str] | None) -> dict[str, dict]:
        """Current open-interest structures by symbol (``{"openInterestAmount": contracts, "openInterestValue":
        quote notional or None, "timestamp": ms, …}``; ``symbols=None``: every market the answer holds) in one call
        (OKX ``GET /api/v5/public/open-interest?instType=SWAP``, Hyperliquid ``POST /info`` ``metaAndAssetCtxs``).
        Raises :class:`Unsupported` without ``fetchOpenInterests`` (use :meth:`fetch_open_interest` per symbol)."""
        if not self.has("fetchOpenInterests"):
            raise Unsupported(self.id, "NotSupported", "fetchOpenInterests not supported")
        return await self._call("fetch_open_interests", symbols)

    async def fetch_open_interest(self, symbol: str) -> dict:
        """The current open-interest structure of one symbol (as :meth:`fetch_open_interests`; Binance
        ``GET /fapi/v1/openInterest``: contracts only). Raises :class:`Unsupported` without ``fetchOpenInterest``."""
        if not self.has("fetchOpenInterest"):
            raise Unsupported(self.id, "NotSupported", "fetchOpenInterest not supported")
        return await self._call("fetch_open_interest", symbol)

    async def fetch_tickers(self) -> dict[str, dict]:
        """Ticker structures of every linear swap by symbol (ccxt ``fetch_tickers()``; Bybit
        ``GET /v5/market/tickers?category=linear``, one request; the raw ticker under ``info``). Raises
        :class:`Unsupported` without ``fetchTickers``."""
        if not self.has("fetchTickers"):
            raise Unsupported(self.id, "NotSupported", "fetchTickers not supported")
        return await self._call("fetch_tickers")

    async def fetch_open_interest_history(self, symbol: str, timeframe: str, since_ms: int | None,
                                          limit: int | None = None) -> list[dict]:
        """Open-interest history (structures as :meth:`fetch_open_interests`, oldest first) of ``timeframe``
        (Binance: 5m … 1d, last 30 days) from ``since_ms`` (UTC ms). Raises :class:`Unsupported` without
        ``fetchOpenInterestHistory``."""
        if not self.has("fetchOpenInterestHistory"):
            raise Unsupported(self.id, "NotSupported", "fetchOpenInterestHistory not supported")
        return await self._call("fetch_open_interest_history", symbol, timeframe, since_ms, limit)
