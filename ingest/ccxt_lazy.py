"""ccxt without its 104 exchanges: the ``ccxt`` and ``ccxt.async_support`` packages imported lazily.

``import ccxt`` runs ``ccxt/__init__.py``, which imports every sync exchange module, and ``ccxt.async_support``
then imports every async one (ccxt issue #29573, open). Measured here with ccxt 4.5.90 on Python 3.11:
``import ccxt.async_support`` takes the process from 8 MB to 104 MB RSS; the three exchanges the worker uses
(binanceusdm, bybit, okx) with the shared base take it to 57 MB.

Importing this module, before anything else in the process has imported ccxt, registers both packages as
empty module objects with ccxt's own ``__path__`` (their ``__init__`` is not run) and a module ``__getattr__``
(PEP 562) that resolves what ``__init__`` would have exported, on first use:

- the exception classes of ``ccxt.base.errors`` (``ccxt.NetworkError`` …) on both packages;
- ``Exchange``: ``ccxt.base.exchange.Exchange`` (sync) / ``ccxt.async_support.base.exchange.Exchange``;
- an exchange class by id (``ccxt.async_support.okx``) from its own module ``ccxt.async_support.okx``.

So ``getattr(ccxt_async, exchange_id)`` loads only the exchanges used. When ccxt was already imported the
normal way (e.g. by a test module first), nothing is changed and the full packages are used. Other names of
ccxt's ``__init__`` (``ccxt.exchanges``, ``decimal_to_precision`` …) are not provided: this project does not
use them. Re-check this module when the ccxt pin changes (``tests/test_ccxt_lazy.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys


def _lazy_attribute(package: str, base_module: str, name: str):
    """What ccxt's ``package/__init__.py`` exports as ``name``; raises AttributeError for anything else."""
    errors = importlib.import_module("ccxt.base.errors")
    if hasattr(errors, name) and not name.startswith("_"):
        return getattr(errors, name)
    if name == "Exchange":
        return importlib.import_module(base_module).Exchange
    if name.isidentifier() and name.islower() and importlib.util.find_spec(f"{package}.{name}") is not None:
        return getattr(importlib.import_module(f"{package}.{name}"), name)
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def _install(package: str, base_module: str) -> None:
    spec = importlib.util.find_spec(package)
    module = importlib.util.module_from_spec(spec)  # __path__, __spec__ set; __init__ not executed

    def __getattr__(name: str):
        value = _lazy_attribute(package, base_module, name)
        setattr(module, name, value)
        return value

    module.__getattr__ = __getattr__
    sys.modules[package] = module
    parent, _, child = package.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


if "ccxt" not in sys.modules:
    _install("ccxt", "ccxt.base.exchange")
    _install("ccxt.async_support", "ccxt.async_support.base.exchange")
    sys.modules["ccxt"].__version__ = importlib.import_module("ccxt.base.exchange").__version__

import ccxt  # noqa: E402  (after the lazy packages are registered)
import ccxt.async_support as ccxt_async  # noqa: E402

__all__ = ["ccxt", "ccxt_async"]
