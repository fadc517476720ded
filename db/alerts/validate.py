"""Validation of an alert rule's fields: pure functions, no database (:func:`db.alerts.rules.validate_rule`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from db.coins import is_bare_coin
from db.queries.anomalies import ANOMALY_METRICS  # the metrics an ``anomaly_z`` rule may watch
from db.symbols import SymbolError, normalize_symbol

#: Rule kinds and their params: name → (type, minimum, maximum) (``None``: unbounded; bounds inclusive).
KINDS: dict[str, dict[str, tuple[type, float | None, float | None]]] = {
    "funding_above": {"level_pct_per_year": (float, None, None)},
    "funding_below": {"level_pct_per_year": (float, None, None)},
    "funding_spread": {"level_pct_per_year": (float, 0.0, None)},
    "anomaly_z": {"metric": (str, None, None), "min_abs_z": (float, 0.0, None)},
    "price_change": {"window_minutes": (int, 1, 1440), "pct": (float, 1e-9, None)},
    "premium": {"level_bp": (float, 1e-9, None)},
    "feed_stale": {"multiple": (float, 1.0, None)},
}
SEVERITIES = ("info", "warning", "critical")
MAX_NAME = 120


class RuleError(ValueError):
    """A rule field is invalid: ``field`` names it (``"params.pct"`` for a param), ``message`` says why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def name(raw: Any) -> str:
    """A non-empty name of at most :data:`MAX_NAME` characters, stripped. Raises :class:`RuleError`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > MAX_NAME:
        raise RuleError("name", f"a non-empty text of at most {MAX_NAME} characters is required")
    return raw.strip()


def params(kind: str, raw: Any) -> dict:
    """The params of ``kind`` (types and bounds of :data:`KINDS`), unknown keys refused. Raises :class:`RuleError`."""
    if not isinstance(raw, dict):
        raise RuleError("params", "an object is required")
    spec = KINDS[kind]
    extra = sorted(set(raw) - set(spec))
    if extra:
        raise RuleError(f"params.{extra[0]}", f"not a parameter of {kind} (expected {', '.join(spec)})")
    out = {}
    for key, (kind_type, low, high) in spec.items():
        out[key] = _param(f"params.{key}", raw.get(key), kind_type, low, high)
    if kind == "anomaly_z" and out["metric"] not in ANOMALY_METRICS:
        raise RuleError("params.metric", f"one of {', '.join(ANOMALY_METRICS)} is required")
    return out


def _param(field: str, value: Any, kind_type: type, low: float | None, high: float | None):
    if kind_type is str:
        if not isinstance(value, str) or not value:
            raise RuleError(field, "a text is required")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RuleError(field, "a finite number is required")
    if kind_type is int and value != int(value):
        raise RuleError(field, "a whole number is required")
    value = kind_type(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise RuleError(field, f"must be within {low if low is not None else '-inf'}..{high if high else 'inf'}")
    return value


def text_list(field: str, raw: Any) -> tuple[str, ...] | None:
    """``None`` (all) or a non-empty list of non-empty texts, duplicates dropped. Raises :class:`RuleError`."""
    if raw is None:
        return None
    if isinstance(raw, str) or not isinstance(raw, (list, tuple)) or not raw:
        raise RuleError(field, "null (all) or a non-empty list of texts is required")
    if not all(isinstance(v, str) and v.strip() for v in raw):
        raise RuleError(field, "every item must be a non-empty text")
    return tuple(dict.fromkeys(v.strip() for v in raw))


def symbols(raw: Any) -> tuple[str, ...] | None:
    """Bare coins (``BTC``, upper-cased) kept as coins; anything else normalised to a unified symbol
    (``BTC/USDT`` → ``BTC/USDT:USDT``). Raises :class:`RuleError` naming ``symbols``."""
    items = text_list("symbols", raw)
    if items is None:
        return None
    try:
        return tuple(dict.fromkeys(s.upper() if is_bare_coin(s) else normalize_symbol(s) for s in items))
    except SymbolError as exc:
        raise RuleError("symbols", str(exc)) from exc


def whole(field: str, raw: Any, low: int, nullable: bool) -> int | None:
    """A whole number ≥ ``low`` (``None`` allowed when ``nullable``). Raises :class:`RuleError`."""
    if raw is None and nullable:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw != int(raw) or raw < low:
        raise RuleError(field, f"a whole number >= {low}{' or null' if nullable else ''} is required")
    return int(raw)


def timestamp(field: str, raw: Any) -> datetime | None:
    """``None``, an aware ``datetime`` or an ISO 8601 text with an offset, as UTC. Raises :class:`RuleError`."""
    if raw is None:
        return None
    try:
        value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise RuleError(field, "an ISO 8601 time with a UTC offset is required") from exc
    if value.tzinfo is None:
        raise RuleError(field, "the time needs a UTC offset (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)
