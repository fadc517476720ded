"""Open interest: the ``open_interest`` hypertable (1-day chunks) as described in ``db/schema.py``.

One row per exchange + symbol + source (``live`` snapshot, exchange ``history`` endpoint, ``recorded`` bundled
data) + UTC time; the primary key makes replays idempotent. ``create_hypertable`` without default indexes (the
primary key serves the per-pair reads). Ingest writes it, the app and the alerts worker read it
(``db.roles.grant_market_table``). ``pair_extents`` gains the stream ``open_interest`` (its check constraint
widened; kept by ``db.writes.extents``). ``downgrade`` removes those catalogue rows and drops the table.

Revision ID: h8_01
Revises: h9_02
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_market_table

revision = "h8_01"
down_revision = "h9_02"
branch_labels = None
depends_on = None

PAIR_STREAMS = ("funding", "ohlcv")
PAIR_STREAM_COMMENT = "funding (funding_rates rows), ohlcv (prices rows, last price)"


def upgrade() -> None:
    op.create_table(
        "open_interest",
        sa.Column("time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC timestamp (hypertable time column)"),
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
        sa.Column("source", sa.Text(), nullable=False,
                  comment="live (current snapshot), history (exchange history endpoint) or recorded (bundled data)"),
        sa.Column("open_interest_contracts", sa.Double(), comment="open interest in contracts (venue's contract unit)"),
        sa.Column("open_interest_base", sa.Double(),
                  comment="open interest in base-asset units (contracts × contractSize)"),
        sa.Column("open_interest_value", sa.Double(),
                  comment="open interest notional in quote currency (USDT/USD)"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"),
                  comment="UTC time AlphaPulse stored the row (exchange time is kept apart in time)"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "source", "time", name=op.f("pk_open_interest")),
        sa.CheckConstraint("source IN ('live', 'history', 'recorded')", name=op.f("ck_open_interest_source_known")),
        sa.CheckConstraint("open_interest_contracts IS NULL OR open_interest_contracts >= 0",
                           name=op.f("ck_open_interest_contracts_nonneg")),
        sa.CheckConstraint("open_interest_base IS NULL OR open_interest_base >= 0",
                           name=op.f("ck_open_interest_base_nonneg")),
        sa.CheckConstraint("open_interest_value IS NULL OR open_interest_value >= 0",
                           name=op.f("ck_open_interest_value_nonneg")),
        comment="Open interest per exchange + symbol: live snapshots, exchange history and recorded data (UTC time)",
    )  # fmt: skip
    op.execute("SELECT create_hypertable('open_interest', by_range('time', INTERVAL '1 day'), "
               "create_default_indexes => false)")
    grant_market_table(op, "open_interest")
    _stream_check(PAIR_STREAMS + ("open_interest",), PAIR_STREAM_COMMENT + " or open_interest")


def downgrade() -> None:
    op.execute("DELETE FROM pair_extents WHERE stream = 'open_interest'")
    _stream_check(PAIR_STREAMS, PAIR_STREAM_COMMENT)
    op.drop_table("open_interest")


def _stream_check(streams: tuple[str, ...], comment: str) -> None:
    """``pair_extents.stream`` limited to ``streams``, with column comment ``comment``."""
    op.drop_constraint(op.f("ck_pair_extents_stream_known"), "pair_extents", type_="check")
    op.create_check_constraint(op.f("ck_pair_extents_stream_known"), "pair_extents",
                               "stream IN (" + ", ".join(f"'{s}'" for s in streams) + ")")
    op.alter_column("pair_extents", "stream", existing_type=sa.Text(), existing_nullable=False, comment=comment)
