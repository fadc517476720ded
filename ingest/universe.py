"""Which symbols of a venue the worker follows: the funding universe and the configured symbols.

* The **funding universe** (``ALPHAPULSE_FUNDING_UNIVERSE=all``) is every active linear perpetual of the venue
  settled in USDT or USDC (:func:`linear_perpetuals`, from ccxt's loaded markets); with ``symbols`` it is the
  configured symbols only.
* The **configured symbols** (``ALPHAPULSE_SYMBOLS``, 1-minute candles, settled funding, open interest) resolve
  per venue (:func:`resolve_symbols`): the unified spelling when the venue lists it, else, for a bare coin
  (``BTC``), that coin's perpetual on the venue (Hyperliquid lists ``BTC/USDC:USDC``, no USDT one).

Pure functions over ccxt market dicts (``{"BTC/USDT:USDT": {"swap": True, "linear": True, "settle": "USDT",
"active": True, "expiry": None, …}}``); no I/O.
"""

from __future__ import annotations

from db.coins import coin_of, is_bare_coin
from db.symbols import SymbolError, normalize_symbol

#: Settle currencies of the perpetuals in the universe, in order of preference for a bare coin.
SETTLE_CURRENCIES = ("USDT", "USDC")


def linear_perpetuals(markets: dict[str, dict]) -> list[str]:
    """Unified symbols (sorted) of ``markets`` that are linear perpetual swaps (``swap`` and ``linear``, no
    ``expiry``), not marked inactive (ccxt ``active`` False; ``None`` = unknown counts as active) and settled in
    one of :data:`SETTLE_CURRENCIES`."""
    return sorted(
        symbol for symbol, m in markets.items()
        if m.get("swap") and m.get("linear") and m.get("expiry") is None and m.get("active") is not False
        and m.get("settle") in SETTLE_CURRENCIES
    )


def resolve_symbols(raw_symbols: tuple[str, ...], perpetuals: list[str]) -> tuple[list[str], list[str]]:
    """``(resolved, missing)``: each configured spelling (``ALPHAPULSE_SYMBOLS``) as a symbol of ``perpetuals`` (a
    venue's :func:`linear_perpetuals`), input order kept, duplicates removed; ``missing`` = the spellings the venue
    does not list (unreadable ones included, quoted as given).

    ``"BTCUSDT"`` or ``"BTC/USDT"`` name one market (:func:`db.symbols.normalize_symbol`); a bare coin ``"BTC"``
    names ``BTC/USDT:USDT`` where listed, else the coin's perpetual settled in USDC (``BTC/USDC:USDC`` on
    Hyperliquid), else one with a size prefix (``1000PEPE``, ``kPEPE``) of the same coin."""
    listed = set(perpetuals)
    resolved: dict[str, None] = {}
    missing = []
    for raw in raw_symbols:
        try:
            unified = normalize_symbol(raw)
        except SymbolError:
            missing.append(raw)
            continue
        found = unified if unified in listed else (_coin_perpetual(raw, perpetuals) if is_bare_coin(raw) else None)
        if found is None:
            missing.append(raw)
        else:
            resolved[found] = None
    return list(resolved), missing


def _coin_perpetual(raw: str, perpetuals: list[str]) -> str | None:
    """The perpetual of ``perpetuals`` for the bare coin ``raw``: plain base before a size prefix, then settle
    currency in :data:`SETTLE_CURRENCIES` order; ``None`` when the venue lists none."""
    wanted = raw.strip().upper()
    same = [s for s in perpetuals if coin_of(s).name == coin_of(wanted).name]
    ranked = sorted(same, key=lambda s: (coin_of(s).multiplier != 1, SETTLE_CURRENCIES.index(s.rsplit(":", 1)[1])))
    return ranked[0] if ranked else None


def configured_spellings(raw_symbols: tuple[str, ...]) -> frozenset[str]:
    """Every unified symbol the configured spellings can resolve to without a venue's market list: each one's
    :func:`db.symbols.normalize_symbol`, and for a bare coin also its USDC-settled perpetual (``BTC`` →
    ``BTC/USDT:USDT``, ``BTC/USDC:USDC``). Validation's symbol set before the markets are loaded (spool replay).
    Raises :class:`db.symbols.SymbolError` for an unreadable spelling."""
    found = set()
    for raw in raw_symbols:
        found.add(normalize_symbol(raw))
        if is_bare_coin(raw):
            found.add(normalize_symbol(raw, default_quote="USDC"))
    return frozenset(found)
