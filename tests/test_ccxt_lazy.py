"""``ingest.ccxt_lazy``: a fresh process loads only the exchanges it uses, and its clients behave like the
clients of the fully imported ccxt (same exceptions, same parsed answers from the fake exchange).

Each probe runs in a fresh interpreter, so what this test process imported before (ccxt in full or lazily,
depending on which test module was collected first) does not matter.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from ingest.exchange import ExchangeClient
from settings import PROJECT_ROOT, load_settings

_PROBE = """
import asyncio, json, sys
from ingest.exchange import ExchangeClient, Unsupported, ccxt, ccxt_async
from settings import load_settings

settings = load_settings({"ALPHAPULSE_EXCHANGE_BASE_URL": sys.argv[1]})

async def fetch():
    async with ExchangeClient("binanceusdm", settings) as client:
        return await client.fetch_funding_rates(["BTC/USDT:USDT"])

clients = [ExchangeClient(e, settings) for e in ("bybit", "okx")]
try:
    ExchangeClient("no_such_exchange", settings)
    unknown = None
except Unsupported as exc:
    unknown = exc.error_class
funding = asyncio.run(fetch())["BTC/USDT:USDT"]
import ccxt.base.errors as errors
from ccxt.async_support.base.exchange import Exchange as AsyncExchange
print(json.dumps({
    "exchange_modules": sorted(m.split(".")[2] for m in sys.modules
                               if m.startswith("ccxt.async_support.") and m.count(".") == 2),
    "sync_exchange_modules": sorted(m for m in sys.modules if m in ("ccxt.binance", "ccxt.kraken", "ccxt.okx")),
    "errors_are_ccxt_errors": ccxt.NetworkError is errors.NetworkError and ccxt_async.BadSymbol is errors.BadSymbol,
    "async_exchange": ccxt_async.Exchange is AsyncExchange,
    "version": ccxt.__version__,
    "unknown": unknown,
    "funding": {k: funding[k] for k in ("symbol", "fundingRate", "markPrice", "indexPrice", "fundingTimestamp")},
}))
"""


def _probe(url: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, url], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def _fetch_full(url: str) -> dict:
    async with ExchangeClient("binanceusdm", load_settings({"ALPHAPULSE_EXCHANGE_BASE_URL": url})) as client:
        return (await client.fetch_funding_rates(["BTC/USDT:USDT"]))["BTC/USDT:USDT"]


def test_fresh_process_loads_only_the_exchanges_it_uses(fake_exchange):
    facts = _probe(fake_exchange.url)
    # binanceusdm subclasses binance; "base" is the shared async base package.
    assert facts["exchange_modules"] == ["base", "binance", "binanceusdm", "bybit", "okx"]
    assert facts["sync_exchange_modules"] == []
    assert facts["errors_are_ccxt_errors"] and facts["async_exchange"]
    import ccxt

    assert facts["version"] == ccxt.__version__
    assert facts["unknown"] == "NotSupported"


def test_lazy_client_parses_like_the_full_ccxt(fake_exchange):
    facts = _probe(fake_exchange.url)
    full = asyncio.run(_fetch_full(fake_exchange.url))
    assert facts["funding"] == {k: full[k] for k in facts["funding"]}
    assert facts["funding"]["fundingRate"] is not None
