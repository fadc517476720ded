"""Coin identity across venues: the base asset of a perpetual, whatever its quote, settle or size prefix.

A coin is the base asset of a linear perpetual: ``BTC/USDT:USDT`` (Binance, Bybit, OKX) and ``BTC/USDC:USDC``
(Hyperliquid) are both the coin ``BTC``. Some venues list small-priced coins in bundles of units and say so in
the base name: Binance/Bybit/OKX ``1000PEPE`` (one contract unit = 1,000 PEPE, also ``10000``, ``1000000``
prefixes) and Hyperliquid ``kPEPE`` (1,000 PEPE; ccxt upper-cases it to ``KPEPE``). Those map to the coin
``PEPE`` with a multiplier, so a price or an open interest quoted per bundle is never mixed with one per unit.

Pure functions, no database access; in ``db`` so both ``ingest`` and ``app`` may import them (like
:mod:`db.symbols`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from db.symbols import KNOWN_QUOTES

#: Numeric bundle prefixes (``1000PEPE``): a power of ten of at least 100, then the coin's name.
_NUMERIC_PREFIX = re.compile(r"^(10{2,})([A-Z][A-Z0-9]*)$")
#: Hyperliquid's ``k`` (kilo) listings, from its perpetuals meta (``POST /info {"type": "meta"}``):
#: ccxt upper-cases ``kPEPE`` to ``KPEPE``, so the upper-case form is only read as kilo for these names
#: (``KAVA``, ``KAS`` or ``KNC`` are coins of their own).
HYPERLIQUID_KILO = frozenset({"PEPE", "SHIB", "BONK", "FLOKI", "LUNC", "DOGS", "NEIRO"})
_BARE_COIN = re.compile(r"^[A-Za-z0-9]+$")


class Coin(NamedTuple):
    """A perpetual's coin: ``name`` (base asset, upper case, e.g. ``"PEPE"``) and ``multiplier``, the units
    of the coin in one unit of the perpetual's base (1 for ``BTC``, 1000 for ``1000PEPE`` / ``kPEPE``).
    A price per base unit divided by ``multiplier`` is the price per coin; an amount in base units times
    ``multiplier`` is an amount in coins."""

    name: str
    multiplier: int


def coin_of_base(base: str) -> Coin:
    """The coin of a ccxt base currency code: ``"1000PEPE"`` → ``Coin("PEPE", 1000)``, ``"kPEPE"`` or
    ``"KPEPE"`` → ``Coin("PEPE", 1000)``, ``"BTC"`` → ``Coin("BTC", 1)``. Raises ``ValueError`` if empty."""
    if not base:
        raise ValueError("empty base currency")
    if base[0] == "k" and len(base) > 1 and base[1:].isupper():
        return Coin(base[1:], 1000)
    text = base.upper()
    if m := _NUMERIC_PREFIX.match(text):
        return Coin(m.group(2), int(m.group(1)))
    if text.startswith("K") and text[1:] in HYPERLIQUID_KILO:
        return Coin(text[1:], 1000)
    return Coin(text, 1)


def coin_of(symbol: str) -> Coin:
    """The coin of a ccxt unified symbol (``BASE/QUOTE:SETTLE``): ``"BTC/USDC:USDC"`` → ``Coin("BTC", 1)``,
    ``"1000PEPE/USDT:USDT"`` → ``Coin("PEPE", 1000)``. Raises ``ValueError`` for an empty symbol."""
    return coin_of_base(symbol.split("/", 1)[0].strip())


def is_bare_coin(raw: str) -> bool:
    """True when ``raw`` names a coin only (``"btc"``, ``"PEPE"``): letters and digits with no quote currency
    at its end (``"BTCUSDT"`` names a market, not a coin)."""
    text = raw.strip()
    if not _BARE_COIN.match(text):
        return False
    upper = text.upper()
    return not any(upper.endswith(q) and len(upper) > len(q) for q in KNOWN_QUOTES)


def symbols_of_coin(raw: str, known: Iterable[str]) -> tuple[str, ...]:
    """Every symbol of ``known`` (ccxt unified) whose coin is the coin ``raw`` names, sorted.

    ``symbols_of_coin("btc", ["BTC/USDT:USDT", "BTC/USDC:USDC", "ETH/USDT:USDT"])`` →
    ``("BTC/USDC:USDC", "BTC/USDT:USDT")``; ``"PEPE"`` finds ``1000PEPE/USDT:USDT`` and ``KPEPE/USDC:USDC``.
    An empty tuple when none match.
    """
    wanted = coin_of_base(raw.strip()).name
    return tuple(sorted(s for s in set(known) if coin_of(s).name == wanted))
