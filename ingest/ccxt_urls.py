"""Point a ccxt client at another server (a local fake exchange, a proxy) by rewriting its API URLs.

Used by the exchange factory when ``Settings.exchange_base_url`` (``ALPHAPULSE_EXCHANGE_BASE_URL``) is set,
and by the tests' fake exchange. Works for every ccxt exchange because only ``exchange.urls['api']`` is
touched: ccxt builds each request URL as ``urls['api'][<api name>] + '/' + <endpoint path>`` (after filling
``{hostname}``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def _rewrite(value: Any, base_url: str) -> Any:
    if isinstance(value, dict):
        return {key: _rewrite(item, base_url) for key, item in value.items()}
    if isinstance(value, str):
        return base_url + urlsplit(value).path.rstrip("/")
    return value


def override_api_urls(exchange: Any, base_url: str) -> None:
    """Replace scheme and host of every URL string in ``exchange.urls['api']`` (nested dicts included) with
    ``base_url``, keeping each URL's path: Binance USD-M ``https://fapi.binance.com/fapi/v1`` becomes
    ``<base_url>/fapi/v1``, Bybit ``https://api.{hostname}`` and OKX ``https://{hostname}`` become
    ``<base_url>`` (their endpoint paths ``v5/market/...``, ``api/v5/...`` are appended by ccxt).
    The three exchanges' paths are disjoint, so one server can answer all of them.

    ``exchange``: a ccxt ``Exchange`` instance (sync or async), changed in place (a new ``urls`` dict; the
    class-level description is untouched). ``base_url``: ``http(s)://host[:port][/path]``; a trailing
    slash is ignored. Raises ``ValueError`` when ``base_url`` is not an absolute http(s) URL.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"exchange base URL must be an absolute http(s) URL, got {base_url!r}")
    exchange.urls = {**exchange.urls, "api": _rewrite(exchange.urls["api"], base_url.rstrip("/"))}
