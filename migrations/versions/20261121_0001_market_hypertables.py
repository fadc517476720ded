"""TimescaleDB extension and the four market hypertables.

Creates ``funding_rates``, ``prices``, ``anomalies`` and ``system_metrics`` as described in
``db/schema.py``, each a hypertable on ``time`` with 1-day chunks. ``create_hypertable`` is
called with ``create_default_indexes => false`` so the only indexes are those declared in the
schema (``alembic check`` stays quiet), and through ``SELECT create_hypertable(...)``, which
works in both the Apache and the Timescale License editions.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = ("funding_rates", "prices", "anomalies", "system_metrics")


def _time() -> sa.Column:
    return sa.Column(
        "time", sa.DateTime(timezone=True), nullable=False, comment="UTC timestamp (hypertable time column)"
    )


def _received_at() -> sa.Column:
    return sa.Column(
        "received_at",
        sa.DateTime(timezone=True),
        server_default=sa.text("now()"),
        nullable=False,
        comment="UTC time AlphaPulse stored the row (exchange time is kept apart in time)",
    )


def _funding_rates() -> None:
    op.create_table(
        "funding_rates",
        _time(),
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
        sa.Column(
            "settled",
            sa.Boolean(),
            nullable=False,
            comment="true: the rate settled at time (fundingTime); false: the current/predicted rate observed at time",
        ),
        sa.Column(
            "funding_rate", sa.Double(), nullable=False, comment="fraction per funding interval (0.0001 = 0.01 %)"
        ),
        sa.Column(
            "funding_interval_hours", sa.Double(), comment="hours between settlements for this symbol (8, 4, 1 …)"
        ),
        sa.Column("mark_price", sa.Double(), comment="mark price in quote currency at time"),
        sa.Column("index_price", sa.Double(), comment="index (spot composite) price in quote currency at time"),
        sa.Column(
            "next_funding_time", sa.DateTime(timezone=True), comment="UTC time of the next settlement (predicted rows)"
        ),
        _received_at(),
        sa.CheckConstraint("funding_interval_hours IS NULL OR funding_interval_hours > 0", name="interval_positive"),
        sa.CheckConstraint("mark_price IS NULL OR mark_price > 0", name="mark_price_positive"),
        sa.CheckConstraint("index_price IS NULL OR index_price > 0", name="index_price_positive"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "settled", "time", name=op.f("pk_funding_rates")),
        comment="Funding rates per exchange + symbol: settled history and current/predicted snapshots",
    )


def _prices() -> None:
    op.create_table(
        "prices",
        _time(),
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol"),
        sa.Column("timeframe", sa.Text(), nullable=False, comment="candle width in ccxt notation: 1m, 5m, 1h, 4h, 1d"),
        sa.Column(
            "price_kind",
            sa.Text(),
            server_default=sa.text("'last'"),
            nullable=False,
            comment="last (traded), mark or index price candles",
        ),
        sa.Column("open", sa.Double(), nullable=False, comment="open price, quote currency"),
        sa.Column("high", sa.Double(), nullable=False, comment="high price, quote currency"),
        sa.Column("low", sa.Double(), nullable=False, comment="low price, quote currency"),
        sa.Column("close", sa.Double(), nullable=False, comment="close price, quote currency"),
        sa.Column("volume", sa.Double(), comment="traded volume in base-asset units (contracts on some venues)"),
        sa.Column("quote_volume", sa.Double(), comment="traded volume in quote currency"),
        _received_at(),
        sa.CheckConstraint("high >= low", name="high_ge_low"),
        sa.CheckConstraint("low > 0", name="low_positive"),
        sa.CheckConstraint("price_kind IN ('last', 'mark', 'index')", name="price_kind_known"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "price_kind", "time", name=op.f("pk_prices")),
        comment="Closed OHLCV candles; time is the candle open time (UTC)",
    )


def _anomalies() -> None:
    op.create_table(
        "anomalies",
        _time(),
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol"),
        sa.Column(
            "metric",
            sa.Text(),
            nullable=False,
            comment="funding_rate (fraction), log_return_1m (natural log), volume_1m (base units), premium (fraction)",
        ),
        sa.Column(
            "method", sa.Text(), nullable=False, comment="zscore (mean/std, ddof=0) or robust (median/MAD×1.4826)"
        ),
        sa.Column("value", sa.Double(), nullable=False, comment="observed value of the metric, metric's unit"),
        sa.Column("centre", sa.Double(), nullable=False, comment="trailing mean or median, metric's unit"),
        sa.Column("spread", sa.Double(), nullable=False, comment="trailing std or 1.4826×MAD, metric's unit"),
        sa.Column("z_score", sa.Double(), nullable=False, comment="(value − centre) / spread, dimensionless"),
        sa.Column("threshold", sa.Double(), nullable=False, comment="|z| threshold in force"),
        sa.Column("window", sa.Integer(), nullable=False, comment="trailing window length, observations"),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="extra context",
        ),
        _received_at(),
        sa.CheckConstraint("spread > 0", name="spread_positive"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "metric", "method", "time", name=op.f("pk_anomalies")),
        comment="Z-score anomalies found on trailing windows (no look-ahead)",
    )
    op.create_index("ix_anomalies_time", "anomalies", [sa.literal_column("time DESC")])


def _system_metrics() -> None:
    op.create_table(
        "system_metrics",
        _time(),
        sa.Column("metric", sa.Text(), nullable=False, comment="metric name, e.g. fetch_latency_seconds"),
        sa.Column("value", sa.Double(), nullable=False, comment="metric value in unit"),
        sa.Column("unit", sa.Text(), nullable=False, comment="seconds, rows, bytes, percent, count …"),
        sa.Column(
            "labels",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="exchange, stream, worker …",
        ),
        sa.PrimaryKeyConstraint("metric", "labels", "time", name=op.f("pk_system_metrics")),
        comment="Health of the data pipeline, written by ingest",
    )
    op.create_index("ix_system_metrics_time", "system_metrics", [sa.literal_column("time DESC")])


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    _funding_rates()
    _prices()
    _anomalies()
    _system_metrics()
    for table in TABLES:
        op.execute(
            f"SELECT create_hypertable('{table}', by_range('time', INTERVAL '1 day'), create_default_indexes => false)"
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)  # drops the hypertable with its chunks and indexes
    op.execute("DROP EXTENSION IF EXISTS timescaledb")
