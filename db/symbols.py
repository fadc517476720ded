"""Symbol spelling: every input spelling → ccxt's unified symbol, and the display form.

Stored symbols are ccxt unified symbols of linear perpetuals, ``BASE/QUOTE:SETTLE`` (``BTC/USDT:USDT``).
People type ``btc``, ``BTCUSDT``, ``BTC/USDT``, ``btc-usdt-swap`` or the unified form; all map to one
spelling so data stored under one spelling is never read under another.

Pure functions, no database access. They live in ``db`` because it is the one layer both ``ingest``
(config ``ALPHAPULSE_SYMBOLS``) and ``app`` (API/URL parameters) may import, so both normalise exactly
alike; ``ingest.symbols`` re-exports them (logic first written there by INGEST, moved here unchanged).
"""

from __future__ import annotations

import re

#: Quote currencies recognised at the end of a concatenated exchange id (``BTCUSDT``), longest first.
KNOWN_QUOTES = ("USDT", "USDC")

_UNIFIED = re.compile(r"^([A-Z0-9]+)/([A-Z0-9]+):([A-Z0-9]+)$")
_PAIR = re.compile(r"^([A-Z0-9]+)[/\-_]([A-Z0-9]+)(?:[/\-_](?:SWAP|PERP))?$")
_BARE = re.compile(r"^[A-Z0-9]+$")


class SymbolError(ValueError):
    """A symbol spelling that cannot be read as a linear perpetual; the message quotes it."""


def normalize_symbol(raw: str, default_quote: str = "USDT") -> str:
    """The ccxt unified symbol of a USDT-margined (or ``default_quote``-margined) linear perpetual.

    ``"btc"``, ``"BTCUSDT"``, ``"BTC/USDT"``, ``"BTC-USDT-SWAP"``, ``"BTC/USDT:USDT"`` → ``"BTC/USDT:USDT"``.
    A bare base (``"btc"``) takes ``default_quote``. Raises :class:`SymbolError` for empty or
    malformed input, or a unified symbol whose settle currency differs from its quote (inverse contracts).
    """
    text = (raw or "").strip().upper()
    if not text:
        raise SymbolError(f"empty symbol {raw!r}")
    if m := _UNIFIED.match(text):
        base, quote, settle = m.groups()
        if settle != quote:
            raise SymbolError(f"{raw!r} is not a linear perpetual (settles in {settle}, quoted in {quote})")
        return f"{base}/{quote}:{settle}"
    if m := _PAIR.match(text):
        base, quote = m.groups()
        return f"{base}/{quote}:{quote}"
    if _BARE.match(text):
        for quote in KNOWN_QUOTES:
            if text.endswith(quote) and len(text) > len(quote):
                return f"{text[: -len(quote)]}/{quote}:{quote}"
        return f"{text}/{default_quote}:{default_quote}"
    raise SymbolError(f"cannot read {raw!r} as a perpetual symbol (try BTC, BTCUSDT, BTC/USDT or BTC/USDT:USDT)")


def normalize_symbols(raws, default_quote: str = "USDT") -> tuple[str, ...]:
    """:func:`normalize_symbol` of each, duplicates removed, input order kept."""
    return tuple(dict.fromkeys(normalize_symbol(r, default_quote) for r in raws))


def display_symbol(unified: str) -> str:
    """What people see: ``BTC/USDT:USDT`` → ``BTC/USDT`` (anything without ``:`` is returned unchanged)."""
    return unified.split(":", 1)[0]


def quote_currency(unified: str) -> str:
    """The quote currency prices of a market are in: ``BTC/USDT:USDT`` → ``USDT``, ``HYPE/USDC:USDC`` → ``USDC``
    (ccxt's unified ``BASE/QUOTE:SETTLE``). Raises ``ValueError`` for a symbol without ``/``."""
    base_quote = display_symbol(unified)
    if "/" not in base_quote:
        raise ValueError(f"{unified!r} is not a unified symbol (BASE/QUOTE[:SETTLE])")
    return base_quote.split("/", 1)[1]


def exchange_id_symbol(unified: str) -> str:
    """Binance-style concatenated id: ``BTC/USDT:USDT`` → ``BTCUSDT`` (used to read recorded Binance files)."""
    return display_symbol(unified).replace("/", "")
