"""Alerts (issue 9): ``alert_rules`` (app-owned), ``alert_states``, ``alert_events``, ``alert_deliveries``
(the alerts worker's), described in ``db/alerts`` and README, "Alerts".

* ``alert_rules``: written by ``alphapulse_app``, read by ``alphapulse_alerts``.
* ``alert_states`` / ``alert_events`` / ``alert_deliveries``: written by ``alphapulse_alerts``, read by the app.
* ``system_metrics``: ``alphapulse_alerts`` may INSERT (delivery failures are counted there).

No foreign key from the worker's tables to ``alert_rules`` (different owners): the worker drops the states of
deleted rules. ``downgrade`` drops the four tables and the INSERT on ``system_metrics``.

Revision ID: h9_02
Revises: h9_01
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from db.roles import ALERTS, grant_alerts_table, grant_app_table

revision = "h9_02"
down_revision = "h9_01"
branch_labels = None
depends_on = None

KINDS = ("funding_above", "funding_below", "funding_spread", "anomaly_z", "price_change", "premium", "feed_stale")
TS = sa.TIMESTAMP(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _rules() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("params", pg.JSONB, nullable=False),
        sa.Column("exchanges", pg.ARRAY(sa.Text), nullable=True, comment="NULL: every exchange"),
        sa.Column("symbols", pg.ARRAY(sa.Text), nullable=True, comment="NULL: every symbol; bare coins allowed"),
        sa.Column("pending_evaluations", sa.Integer, nullable=False, server_default="1"),
        sa.Column("repeat_minutes", sa.Integer, nullable=True, comment="re-notify while firing; NULL: never"),
        sa.Column("severity", sa.Text, nullable=False, server_default="warning"),
        sa.Column("muted_until", TS, nullable=True),
        sa.Column("channels", pg.ARRAY(sa.Text), nullable=True, comment="channel names; NULL: default channels"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(_in("kind", KINDS), name="ck_alert_rules_kind"),
        sa.CheckConstraint(_in("severity", ("info", "warning", "critical")), name="ck_alert_rules_severity"),
        sa.CheckConstraint("pending_evaluations >= 1", name="ck_alert_rules_pending"),
        sa.CheckConstraint("repeat_minutes IS NULL OR repeat_minutes >= 1", name="ck_alert_rules_repeat"),
    )
    grant_app_table(op, "alert_rules", readers=(ALERTS,))


def _worker_tables() -> None:
    op.create_table(
        "alert_states",
        sa.Column("rule_id", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.Text, nullable=False, comment="exchange|symbol, coin|BTC or feed|exchange|stream"),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("since", TS, nullable=False),
        sa.Column("last_value", sa.Double, nullable=True),
        sa.Column("last_notified_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("rule_id", "subject", name="pk_alert_states"),
        sa.CheckConstraint(_in("state", ("normal", "pending", "firing")), name="ck_alert_states_state"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("rule_id", sa.BigInteger, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("from_state", sa.Text, nullable=False),
        sa.Column("to_state", sa.Text, nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.CheckConstraint(_in("to_state", ("pending", "firing", "resolved", "normal")), name="ck_alert_events_to"),
    )
    op.create_index("ix_alert_events_rule_time", "alert_events", ["rule_id", sa.literal_column("time DESC")])
    op.create_index("ix_alert_events_time", "alert_events", [sa.literal_column("time DESC")])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.Text, nullable=False, comment="channel name (never its URL)"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=True, comment="never contains the channel URL"),
        sa.Column("sent_at", TS, nullable=True),
        sa.CheckConstraint(_in("status", ("pending", "sent", "failed")), name="ck_alert_deliveries_status"),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])
    for table in ("alert_states", "alert_events", "alert_deliveries"):
        grant_alerts_table(op, table)


def upgrade() -> None:
    _rules()
    _worker_tables()
    op.execute(f'GRANT INSERT ON TABLE system_metrics TO "{ALERTS}"')


def downgrade() -> None:
    op.execute(f'REVOKE INSERT ON TABLE system_metrics FROM "{ALERTS}"')
    for table in ("alert_deliveries", "alert_events", "alert_states", "alert_rules"):
        op.drop_table(table)
