"""A local fake exchange: Binance USD-M, Bybit v5, OKX v5 and Hyperliquid public APIs served from recorded real data.

Real ccxt clients talk HTTP to it after ``ingest.ccxt_urls.override_api_urls(client, fake.url)`` (or with
``ALPHAPULSE_EXCHANGE_BASE_URL=<fake.url>`` through the ingest exchange factory).

Use in tests (fixture from ``tests/fake_exchange/fixtures.py``, registered in ``tests/conftest.py``)::

    def test_x(fake_exchange):
        fake_exchange.set_now(1750160000000)                      # exchange clock, UTC ms
        fake_exchange.fail_next("/fapi/v1/klines", "429", count=2)  # faults: see faults.FaultKind
        fake_exchange.hide("binanceusdm", "BTC/USDT:USDT", "1m", start_ms, end_ms)  # a hole for backfill
        ...  # run ccxt / ingest against fake_exchange.url
        assert [r.query["startTime"] for r in fake_exchange.requests if r.path == "/fapi/v1/klines"] == [...]

Standalone (benchmarks): ``python -m tests.fake_exchange --port 8765 --symbols 100 [--now MS] [--running]``.

What is served (modules ``binance``, ``binance_oi``, ``bybit``, ``okx``, ``hyperliquid`` document each route):

=============  ==========================================  ==============================================
exchange       symbols (ccxt unified ``X/USDT:USDT``)       data (see tests/data/fake_exchange/PROVENANCE.md)
=============  ==========================================  ==============================================
binanceusdm    BTC ETH SOL BNB XRP ADA DOGE HYPE            1m klines 2025-06-16..17 (not HYPE), 1h candles
               (``--symbols N``: names beyond 8 from a      (2025-06-10..19, 2026-02-01..03-05; BTC ETH SOL
               file outside the repo, benchmarks only)      DOGE HYPE), funding 2025-03 .. 2026-03; derived:
                                                            exchangeInfo specs, premiumIndex, tickers, open
                                                            interest (Hyperliquid's, re-served)
bybit          BTC ETH SOL DOGE HYPE                        1h candles (same windows), funding 2025-03..2026-03;
                                                            derived: tickers' open interest (Hyperliquid's)
okx            BTC ETH SOL DOGE HYPE                        1h candles 2026-02-01..03-05, funding 2025-12..2026-03;
                                                            derived: open-interest (Hyperliquid's)
hyperliquid    BTC ETH SOL DOGE HYPE (``X/USDC:USDC``)      hourly funding 2025-03-08..2026-03-07, hourly open
                                                            interest 2025-12..2026-03 (POST /info); derived:
                                                            markPx (Binance's 1h close)
=============  ==========================================  ==============================================

Open interest on every venue is Hyperliquid's recorded hourly USD open interest (``oi_source``; derived and labelled
so on Binance, Bybit and OKX), in base units through the venue's own recorded 1 h close (Hyperliquid: Binance's);
``fake.spoil_open_interest`` makes one symbol's open-interest fields malformed in every answer.

Funding intervals come from the recorded settlement spacing: HYPE 4 h on Binance and OKX, Hyperliquid 1 h, all else
8 h (``fake.set_interval`` changes one, as an exchange does; ``fake.spoil_funding`` makes one symbol's entry of the
all-symbol funding answers malformed). The all-symbol funding endpoints (Binance ``premiumIndex`` without
``symbol`` and ``fundingInfo``, Bybit ``tickers?category=linear``, OKX ``funding-rate?instId=ANY``, Hyperliquid
``metaAndAssetCtxs``), OKX ``open-interest?instType=SWAP`` and Binance ``fundingRate`` without ``symbol`` (settled
funding of every symbol) answer for every served symbol.
The clock starts at 2025-06-17 08:38:08 UTC (``store.DEFAULT_NOW_MS``); nothing stamped after now is served
and the candle containing now is returned as the open candle. The "current" funding rate is the last settled one
and mark price the close of the candle that closed last; index price is not recorded and is sent empty (ccxt: ``None``).

Client options that keep tests fast: ``{"enableRateLimit": False, "options": {"fetchMarkets": {"types":
["linear"]}}}`` (``["swap"]`` for okx) - the other market types answer empty lists, but ccxt throttles the
extra Bybit/OKX instrument requests (~1 s per ``load_markets``).
"""
