"""Alert rules: the :class:`Rule` record, :func:`validate_rule` (the one place rules are checked) and CRUD on
``alert_rules`` through a SQLAlchemy ``Connection`` (the caller owns the transaction).

A rule watches the pairs in its scope (``exchanges`` / ``symbols``: ``None`` = all; symbols are unified
``BTC/USDT:USDT`` or bare coins ``BTC``, resolved by the worker with :mod:`db.coins`) for one condition
(``kind`` + ``params``, see :data:`KINDS` and README "Alerts"); it fires after ``pending_evaluations``
consecutive evaluations that hold, re-notifies every ``repeat_minutes`` while firing (``None``: never), and is
silent while ``muted_until`` is in the future. ``channels`` are names of configured channels (``None``: the
default channels; settings ``ALPHAPULSE_ALERT_CHANNELS``), never URLs.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from db.alerts import validate as v
from db.alerts.validate import ANOMALY_METRICS, KINDS, SEVERITIES, RuleError

__all__ = ["ANOMALY_METRICS", "KINDS", "SEVERITIES", "Rule", "RuleError", "validate_rule", "create_rule",
           "update_rule", "delete_rule", "get_rule", "list_rules", "set_muted"]

FIELDS = ("name", "kind", "params", "exchanges", "symbols", "pending_evaluations", "repeat_minutes", "severity",
          "muted_until", "channels", "enabled")


@dataclass(frozen=True)
class Rule:
    """One alert rule. ``params`` as :data:`KINDS` describes (levels in % per year, basis points, minutes, a
    multiple); ``muted_until`` aware UTC or ``None``; ``id``/``created_at``/``updated_at`` are ``None`` until stored.
    """

    name: str
    kind: str
    params: dict
    exchanges: tuple[str, ...] | None = None
    symbols: tuple[str, ...] | None = None
    pending_evaluations: int = 1
    repeat_minutes: int | None = None
    severity: str = "warning"
    muted_until: datetime | None = None
    channels: tuple[str, ...] | None = None
    enabled: bool = True
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: lists for tuples, ISO 8601 texts for times."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, datetime):
                out[key] = value.isoformat()
        return out


def validate_rule(raw: Mapping[str, Any], channels: Collection[str] | None = None) -> Rule:
    """A :class:`Rule` from ``raw`` (a JSON object: :data:`FIELDS`, ``kind`` and ``params`` required, the rest
    defaulted; ``id`` and times ignored). ``channels``: the configured channel names, when given a rule's
    channels must be among them. Raises :class:`RuleError` (``field``, ``message``) for the first bad field."""
    if not isinstance(raw, Mapping):
        raise RuleError("rule", "a JSON object is required")
    unknown = sorted(set(raw) - set(FIELDS) - {"id", "created_at", "updated_at"})
    if unknown:
        raise RuleError(unknown[0], "not a field of a rule")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RuleError("kind", f"one of {', '.join(KINDS)} is required")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError("severity", f"one of {', '.join(SEVERITIES)} is required")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled", "true or false is required")
    names = v.text_list("channels", raw.get("channels"))
    if names is not None and channels is not None and (bad := [n for n in names if n not in channels]):
        raise RuleError("channels", f"not configured: {', '.join(bad)} (configured: {', '.join(channels) or 'none'})")
    return Rule(
        name=v.name(raw.get("name")), kind=kind, params=v.params(kind, raw.get("params")),
        exchanges=v.text_list("exchanges", raw.get("exchanges")), symbols=v.symbols(raw.get("symbols")),
        pending_evaluations=v.whole("pending_evaluations", raw.get("pending_evaluations", 1), 1, False),
        repeat_minutes=v.whole("repeat_minutes", raw.get("repeat_minutes"), 1, True), severity=severity,
        muted_until=v.timestamp("muted_until", raw.get("muted_until")), channels=names, enabled=enabled,
    )


_COLUMNS = ", ".join(FIELDS)
_RETURNING = f"id, {_COLUMNS}, created_at, updated_at"
_PLACE = {f: "CAST(:params AS jsonb)" if f == "params" else f":{f}" for f in FIELDS}


def _values(rule: Rule) -> dict[str, Any]:
    values = {f: getattr(rule, f) for f in FIELDS}
    values["params"] = json.dumps(rule.params)
    for key in ("exchanges", "symbols", "channels"):
        values[key] = list(values[key]) if values[key] is not None else None
    return values


def _rule(row) -> Rule:
    m = dict(row._mapping)
    for key in ("exchanges", "symbols", "channels"):
        m[key] = tuple(m[key]) if m[key] is not None else None
    return Rule(**m)


def create_rule(conn: Connection, rule: Rule) -> Rule:
    """Insert ``rule`` (validated); return it with ``id``, ``created_at`` and ``updated_at``."""
    row = conn.execute(text(f"INSERT INTO alert_rules ({_COLUMNS}) VALUES "
                            f"({', '.join(_PLACE[f] for f in FIELDS)}) RETURNING {_RETURNING}"
                            ), _values(rule)).one()
    return _rule(row)


def update_rule(conn: Connection, rule_id: int, rule: Rule) -> Rule | None:
    """Replace every field of rule ``rule_id`` with ``rule``'s; the stored rule, or ``None`` when there is none."""
    sets = ", ".join(f"{f} = {_PLACE[f]}" for f in FIELDS)
    row = conn.execute(text(f"UPDATE alert_rules SET {sets}, updated_at = now() WHERE id = :id RETURNING {_RETURNING}"),
                       {**_values(rule), "id": rule_id}).one_or_none()
    return _rule(row) if row is not None else None


def delete_rule(conn: Connection, rule_id: int) -> bool:
    """Delete rule ``rule_id``; ``True`` when it existed (the worker drops its states on its next cycle)."""
    return conn.execute(text("DELETE FROM alert_rules WHERE id = :id"), {"id": rule_id}).rowcount > 0


def get_rule(conn: Connection, rule_id: int) -> Rule | None:
    """Rule ``rule_id``, or ``None``."""
    row = conn.execute(text(f"SELECT {_RETURNING} FROM alert_rules WHERE id = :id"), {"id": rule_id}).one_or_none()
    return _rule(row) if row is not None else None


def list_rules(conn: Connection, enabled_only: bool = False) -> list[Rule]:
    """Every rule (only the enabled ones when ``enabled_only``), by ``id``."""
    where = "WHERE enabled" if enabled_only else ""
    return [_rule(r) for r in conn.execute(text(f"SELECT {_RETURNING} FROM alert_rules {where} ORDER BY id"))]


def set_muted(conn: Connection, rule_id: int, until: datetime | None) -> Rule | None:
    """Mute rule ``rule_id`` until ``until`` (aware; ``None`` unmutes); the stored rule, or ``None`` when there
    is none. Raises :class:`RuleError` (``muted_until``) for a naive time."""
    until = v.timestamp("muted_until", until)
    row = conn.execute(text(f"UPDATE alert_rules SET muted_until = :u, updated_at = now() WHERE id = :id "
                            f"RETURNING {_RETURNING}"), {"u": until, "id": rule_id}).one_or_none()
    return _rule(row) if row is not None else None
