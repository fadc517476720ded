"""Symbol spelling for ingest: re-exports :mod:`db.symbols` (one copy shared with the app).

``normalize_symbol("btc") == normalize_symbol("BTCUSDT") == "BTC/USDT:USDT"``; ``display_symbol`` gives
``BTC/USDT``. See :mod:`db.symbols` for the rules and errors (:class:`SymbolError`).
"""

from db.symbols import SymbolError, display_symbol, exchange_id_symbol, normalize_symbol, normalize_symbols

__all__ = ["SymbolError", "display_symbol", "exchange_id_symbol", "normalize_symbol", "normalize_symbols"]
