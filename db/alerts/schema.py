"""Alert tables (migration ``h9_02``), on the same ``MetaData`` as the market hypertables.

``alert_rules`` is the web app's (it writes, the alerts worker reads); ``alert_states``, ``alert_events`` and
``alert_deliveries`` are the alerts worker's (it writes, the app reads). No foreign key joins the two owners' tables:
the worker drops the states of deleted rules. Channel URLs are never stored (names only).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from db.alerts.validate import KINDS, SEVERITIES
from db.schema import metadata

STATES = ("normal", "pending", "firing")
TRANSITIONS = ("pending", "firing", "resolved", "normal")
DELIVERY_STATUSES = ("pending", "sent", "failed")


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, nullable: bool = True, **kw) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable, **kw)


alert_rules = Table(
    "alert_rules", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("exchanges", ARRAY(Text), comment="NULL: every exchange"),
    Column("symbols", ARRAY(Text), comment="NULL: every symbol; bare coins allowed"),
    Column("pending_evaluations", Integer, nullable=False, server_default=text("1")),
    Column("repeat_minutes", Integer, comment="re-notify while firing; NULL: never"),
    Column("severity", Text, nullable=False, server_default=text("'warning'")),
    _ts("muted_until"),
    Column("channels", ARRAY(Text), comment="channel names; NULL: default channels"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    _ts("created_at", False, server_default=text("now()")),
    _ts("updated_at", False, server_default=text("now()")),
    CheckConstraint(_in("kind", KINDS), name="kind"),
    CheckConstraint(_in("severity", SEVERITIES), name="severity"),
    CheckConstraint("pending_evaluations >= 1", name="pending"),
    CheckConstraint("repeat_minutes IS NULL OR repeat_minutes >= 1", name="repeat"),
)

alert_states = Table(
    "alert_states", metadata,
    Column("rule_id", BigInteger, nullable=False),
    Column("subject", Text, nullable=False, comment="exchange|symbol, coin|BTC or feed|exchange|stream"),
    Column("state", Text, nullable=False),
    Column("pending_count", Integer, nullable=False, server_default=text("0")),
    _ts("since", False),
    Column("last_value", Double),
    _ts("last_notified_at"),
    _ts("updated_at", False, server_default=text("now()")),
    PrimaryKeyConstraint("rule_id", "subject"),
    CheckConstraint(_in("state", STATES), name="state"),
)

alert_events = Table(
    "alert_events", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rule_id", BigInteger, nullable=False),
    Column("subject", Text, nullable=False),
    _ts("time", False),
    Column("from_state", Text, nullable=False),
    Column("to_state", Text, nullable=False),
    Column("value", Double),
    Column("message", Text, nullable=False),
    CheckConstraint(_in("to_state", TRANSITIONS), name="to"),
)
Index("ix_alert_events_rule_time", alert_events.c.rule_id, alert_events.c.time.desc())
Index("ix_alert_events_time", alert_events.c.time.desc())

alert_deliveries = Table(
    "alert_deliveries", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", BigInteger, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False, comment="channel name (never its URL)"),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at", False, server_default=text("now()")),
    Column("last_error", Text, comment="never contains the channel URL"),
    _ts("sent_at"),
    CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
)
Index("ix_alert_deliveries_due", alert_deliveries.c.status, alert_deliveries.c.next_attempt_at)

#: Every alert table: the app writes the first, the alerts worker the others.
ALERT_TABLES: tuple[Table, ...] = (alert_rules, alert_states, alert_events, alert_deliveries)
