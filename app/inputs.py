"""Validation of the values a browser sends to Dash callbacks (component properties, store contents).

A callback request carries whatever JSON its sender chose: a dropdown value may arrive as ``-1``, a store as a
list, a time as ``"0001-01-02"``. Every server callback reads its inputs through these helpers (directly or
through the shared parsers of :mod:`app.controls.store` and :mod:`app.refresh`), which return the expected Python
type or raise :class:`InputError`. ``app.callback_guard`` answers an :class:`InputError` with a JSON 400 and one log
line, as it does for a malformed request body, so a new page built on the shared parsers is protected without
code of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

#: Most items accepted in a list input (symbols, exchanges, metrics, dropdown options).
MAX_ITEMS = 500
#: Longest string accepted in an input.
MAX_TEXT = 500


class InputError(ValueError):
    """A callback input that cannot be used; the message names the input and says what was expected."""


def _kind(value) -> str:
    return type(value).__name__


def text(value, name: str, *, optional: bool = True) -> str | None:
    """``value`` as a string of at most :data:`MAX_TEXT` characters (``None`` allowed when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InputError(f"{name} must be a string of at most {MAX_TEXT} characters, got {_kind(value)}")
    return value


def text_list(value, name: str) -> list[str]:
    """A list of strings (``None`` is the empty list); at most :data:`MAX_ITEMS` items of :data:`MAX_TEXT` chars."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InputError(f"{name} must be a list of at most {MAX_ITEMS} strings, got {_kind(value)}")
    return [text(item, f"{name}[]", optional=False) for item in value]


def choice(value, name: str, choices: Iterable, default=None):
    """``value`` when it is one of ``choices`` (``default`` for ``None``); booleans never pass for numbers."""
    if value is None:
        return default
    allowed = list(choices)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(str, allowed))}")
    return value


def number(value, name: str, low: float, high: float, default: float | None = None) -> float | None:
    """A finite number in ``[low, high]`` (``default`` for ``None``); booleans are not numbers."""
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InputError(f"{name} must be a number between {low:g} and {high:g}")
    return float(value)


def mapping(value, name: str, keys: Iterable[str] = ()) -> dict:
    """``value`` as a dict holding at least ``keys``."""
    if not isinstance(value, dict):
        raise InputError(f"{name} must be an object, got {_kind(value)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise InputError(f"{name} lacks {', '.join(missing)}")
    return value


def optional_mapping(value, name: str, keys: Iterable[str] = ()) -> dict | None:
    """:func:`mapping`, or ``None`` for ``None``."""
    return None if value is None else mapping(value, name, keys)


def options(value, name: str) -> list[dict]:
    """Dropdown options: a list of ``{"label", "value"}`` objects (``None`` is the empty list)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise InputError(f"{name} must be a list of at most {MAX_ITEMS} options")
    return [mapping(item, f"{name}[]", ("value",)) for item in value]


def time(value, name: str, parse) -> datetime | None:
    """``parse(value)`` of a time string (``None`` stays ``None``); ``parse`` raises ``ValueError`` for a bad
    time (e.g. ``app.params.utc_time``)."""
    if value is None:
        return None
    try:
        return parse(text(value, name, optional=False))
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(f"{name}={value!r} {exc}") from None
