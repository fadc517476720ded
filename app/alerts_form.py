"""The Alerts page's rule form: its fields and their conversion to and from a rule (``app.pages.alerts``).

The form sends what people typed; :func:`raw_rule` shapes it as the JSON object ``db.alerts.validate_rule`` checks
(numbers are left as typed, so the validator names a bad one), :func:`form_values` fills the form from a stored
rule. Units of the parameters are those of ``db.alerts.KINDS`` (% per year, %, minutes, basis points, |z|, a
multiple of the feed's cadence).
"""

from __future__ import annotations

from app.alerts_text import split_list
from db.alerts import KINDS, Rule

#: Rule parameters (every kind's, see ``db.alerts.KINDS``): key → label with unit.
PARAMS = {
    "level_pct_per_year": "Level (% per year)", "metric": "Anomaly metric", "min_abs_z": "Minimum |z|",
    "window_minutes": "Window (minutes, 1-1440)", "pct": "Change (%)", "level_bp": "Premium level (bp)",
    "multiple": "Multiple of the feed's cadence",
}  # fmt: skip
#: Fields of the form, each with its error slot (``params.<key>`` for parameters; ``form`` for the rest).
FIELDS = ("name", "kind", "exchanges", "symbols", "pending_evaluations", "repeat_minutes", "severity")
ERRORS = (*FIELDS, *(f"params.{k}" for k in PARAMS), "form")
#: Component ids cannot hold dots (Dash separates id and property with one): ``params.pct`` → ``params-pct``.
FORM_KEYS = ("name", "kind", *(f"params-{p}" for p in PARAMS), *FIELDS[2:])


def raw_rule(values: dict) -> dict:
    """``values`` (:data:`FORM_KEYS` → typed value) as a rule object for ``validate_rule``; only the params of
    the chosen kind are sent."""
    kind = values["kind"]
    params = {k: values[f"params-{k}"] for k in KINDS.get(kind, {})}
    return {"name": values["name"] or "", "kind": kind, "params": params,
            "exchanges": split_list(values["exchanges"]), "symbols": split_list(values["symbols"]),
            "pending_evaluations": values["pending_evaluations"], "repeat_minutes": values["repeat_minutes"],
            "severity": values["severity"]}  # fmt: skip


def form_values(rule: Rule | None) -> list:
    """The form's values in :data:`FORM_KEYS` order for ``rule`` (``None``: an empty form)."""
    params = [rule.params.get(k) if rule else None for k in PARAMS]
    if rule is None:
        return ["", "funding_above", *params, "", "", 1, None, "warning"]
    return [rule.name, rule.kind, *params, ", ".join(rule.exchanges or ()), ", ".join(rule.symbols or ()),
            rule.pending_evaluations, rule.repeat_minutes, rule.severity]  # fmt: skip
