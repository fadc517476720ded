"""Alert rules (issue 9): validation and storage of the rules people write (:mod:`db.alerts.rules`).

Used by the web app (API and page, role ``alphapulse_app`` writes ``alert_rules``) and by the alerts worker
(``alerts``, role ``alphapulse_alerts`` reads them). The worker's own tables (``alert_states``, ``alert_events``,
``alert_deliveries``) are read and written by ``alerts``.
"""

from db.alerts.rules import (
    ANOMALY_METRICS,
    KINDS,
    SEVERITIES,
    Rule,
    RuleError,
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    set_muted,
    update_rule,
    validate_rule,
)

__all__ = [
    "ANOMALY_METRICS", "KINDS", "SEVERITIES", "Rule", "RuleError", "create_rule", "delete_rule", "get_rule",
    "list_rules", "set_muted", "update_rule", "validate_rule",
]
