"""What alerts are doing, read for people (the app's API and Alerts page): current states and recent transitions.

Read-only over the worker's tables ``alert_states`` and ``alert_events`` (the app role may read them, not write
them), joined with ``alert_rules`` for the rule's name, kind and severity. Times are aware UTC; ``value`` is the
rule's own measure (see :data:`db.alerts.KINDS`: % per year, %, basis points, |z| or a multiple of the cadence).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, text

#: States a person may ask for (``normal`` rows are the quiet majority and are never listed).
ACTIVE_STATES = ("pending", "firing")


def current_states(conn: Connection, states: Sequence[str] = ACTIVE_STATES,
                   severities: Sequence[str] | None = None) -> list[dict]:
    """``alert_states`` rows in ``states`` (subset of :data:`ACTIVE_STATES`) of rules with ``severities``
    (``None``: any), firing first then newest ``since``: dicts of rule_id, rule_name, kind, severity, subject,
    state, pending_count, since, last_value, last_notified_at, updated_at, muted_until."""
    sql = text(
        "SELECT s.rule_id, r.name AS rule_name, r.kind, r.severity, s.subject, s.state, s.pending_count, s.since, "
        "s.last_value, s.last_notified_at, s.updated_at, r.muted_until FROM alert_states s "
        "JOIN alert_rules r ON r.id = s.rule_id WHERE s.state IN :states "
        "AND (CAST(:any_severity AS boolean) OR r.severity IN :severities) "
        "ORDER BY s.state = 'firing' DESC, s.since DESC, s.rule_id, s.subject"
    ).bindparams(bindparam("states", expanding=True), bindparam("severities", expanding=True))
    params = {"states": list(states), "any_severity": severities is None, "severities": list(severities or [""])}
    return [dict(r) for r in conn.execute(sql, params).mappings()]


def firing_count(conn: Connection) -> int:
    """Number of (rule, subject) pairs firing now, rules deleted since excluded."""
    return conn.execute(text("SELECT count(*) FROM alert_states s JOIN alert_rules r ON r.id = s.rule_id "
                             "WHERE s.state = 'firing'")).scalar_one()


def recent_events(conn: Connection, since: datetime | None, limit: int,
                  severities: Sequence[str] | None = None) -> list[dict]:
    """At most ``limit`` ``alert_events`` at or after ``since`` (aware UTC; ``None``: any time), newest first, of
    rules with ``severities`` (``None``: any); a deleted rule's events keep ``rule_name`` ``None``. Dicts of id,
    rule_id, rule_name, severity, subject, time, from_state, to_state, value, message."""
    sql = text(
        "SELECT e.id, e.rule_id, r.name AS rule_name, r.severity, e.subject, e.time, e.from_state, e.to_state, "
        "e.value, e.message FROM alert_events e LEFT JOIN alert_rules r ON r.id = e.rule_id "
        "WHERE (CAST(:since AS timestamptz) IS NULL OR e.time >= :since) "
        "AND (CAST(:any_severity AS boolean) OR r.severity IN :severities) ORDER BY e.time DESC, e.id DESC LIMIT :limit"
    ).bindparams(bindparam("severities", expanding=True))
    params = {"since": since, "limit": limit, "any_severity": severities is None,
              "severities": list(severities or [""])}
    return [dict(r) for r in conn.execute(sql, params).mappings()]
