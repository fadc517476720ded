"""Notification text of a transition: the rule's name, the subject as people read it (``BTC/USDT · binanceusdm``),
the value with its unit, the threshold, and a link to the dashboard view of the subject.

A message is ``title + "\\n" + body``; it is stored in ``alert_events.message`` and sent as is.
"""

from __future__ import annotations

from urllib.parse import urlencode

from alerts.conditions import Reading
from alerts.scope import describe
from db.alerts import Rule

#: Value label and unit of each kind.
LABELS = {
    "funding_above": ("funding rate (annualised)", "% per year", "≥"),
    "funding_below": ("funding rate (annualised)", "% per year", "≤"),
    "funding_spread": ("cross-venue funding spread (annualised)", "% per year", "≥"),
    "anomaly_z": ("|z-score|", "", "≥"),
    "price_change": ("price change", "%", "|x| ≥"),
    "premium": ("premium (mark/index − 1)", "bp", "|x| ≥"),
    "feed_stale": ("time since the newest row", "s", ">"),
}
HEADS = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}


def view_link(base_url: str, rule: Rule, subject: str) -> str:
    """The dashboard view of ``subject``: ``{base_url}/?symbols=…&exchanges=…`` (coins: the rule's exchanges,
    feeds: the exchange only)."""
    parts = subject.split("|")
    if parts[0] == "coin":
        query = {"symbols": parts[1], **({"exchanges": ",".join(rule.exchanges)} if rule.exchanges else {})}
    elif parts[0] == "feed":
        query = {"exchanges": parts[1]}
    else:
        query = {"symbols": parts[1], "exchanges": parts[0]}
    return f"{base_url}/?{urlencode(query, safe='/:,')}"


def _number(value: float, unit: str) -> str:
    text = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def message(kind: str, rule: Rule, subject: str, reading: Reading, base_url: str) -> str:
    """Text of a ``kind`` (``firing``, ``repeat``, ``resolved``) notification of ``rule`` on ``subject``."""
    label, unit, op = LABELS[rule.kind]
    if rule.kind == "anomaly_z" and "metric" in rule.params:
        label = f"|z-score| of {rule.params['metric']}"
    title = f"[{rule.severity}] {HEADS[kind]}: {rule.name} — {describe(subject)}"
    body = (f"{label}: {_number(reading.value, unit)} (threshold {op} {_number(reading.threshold, unit)})\n"
            f"View: {view_link(base_url, rule, subject)}")
    return f"{title}\n{body}"
