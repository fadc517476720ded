"""Which subjects a rule watches: its ``exchanges`` and ``symbols`` (unified symbols or bare coins, ``None`` = all),
resolved with :mod:`db.coins`; and how a subject key reads to people."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from db.alerts import Rule
from db.coins import coin_of, is_bare_coin
from db.symbols import display_symbol


@lru_cache(maxsize=4096)
def coin_name(symbol: str) -> str:
    """The coin of a unified symbol (``1000PEPE/USDT:USDT`` → ``PEPE``), cached."""
    return coin_of(symbol).name


@dataclass(frozen=True)
class Scope:
    """A rule's scope: ``exchanges`` / ``symbols`` / ``coins`` sets, ``None`` = all."""

    exchanges: frozenset[str] | None
    symbols: frozenset[str] | None
    coins: frozenset[str] | None

    @classmethod
    def of(cls, rule: Rule) -> Scope:
        """The scope of ``rule``: its bare coins apart from its unified symbols."""
        if rule.symbols is None:
            return cls(_set(rule.exchanges), None, None)
        coins = frozenset(s for s in rule.symbols if is_bare_coin(s))
        return cls(_set(rule.exchanges), frozenset(rule.symbols) - coins, coins)

    def has_exchange(self, exchange: str) -> bool:
        """True when ``exchange`` is in scope."""
        return self.exchanges is None or exchange in self.exchanges

    def has_pair(self, exchange: str, symbol: str) -> bool:
        """True when the pair is in scope: its exchange, and its symbol named or its coin named."""
        if not self.has_exchange(exchange):
            return False
        return self.symbols is None or symbol in self.symbols or coin_name(symbol) in self.coins


def _set(values: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def pair_subject(exchange: str, symbol: str) -> str:
    """Subject key of a pair: ``"binanceusdm|BTC/USDT:USDT"``."""
    return f"{exchange}|{symbol}"


def describe(subject: str) -> str:
    """A subject as people read it: ``BTC/USDT · binanceusdm``, ``BTC (every venue)``, ``okx · funding feed``."""
    parts = subject.split("|")
    if parts[0] == "coin":
        return f"{parts[1]} (every venue in scope)"
    if parts[0] == "feed":
        return f"{parts[1]} · {parts[2]} feed"
    return f"{display_symbol(parts[1])} · {parts[0]}"
