"""Catalogue ``pair_extents`` (exchange + symbol + stream → first/last row time), filled from the stored rows.

Maintained from then on by ingest with every write (``db.writes.extents``) and after retention; ingest writes it,
the app and the alerts worker read it (``db.roles.grant_market_table``). ``downgrade`` drops it.

Revision ID: h10_02
Revises: h10_01
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_market_table

revision = "h10_02"
down_revision = "h10_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_extents",
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol"),
        sa.Column("stream", sa.Text(), nullable=False,
                  comment="funding (funding_rates rows) or ohlcv (prices rows, last price)"),
        sa.Column("first_time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC time of the stream's oldest row"),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC time of the stream's newest row"),
        sa.Column("funding_interval_hours", sa.Double(),
                  comment="funding: interval of the newest settled row that states one, hours "
                  "(NULL: none does / ohlcv)"),
        sa.Column("interval_time", sa.DateTime(timezone=True), comment="funding: UTC time of that settled row"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "stream", name=op.f("pk_pair_extents")),
        sa.CheckConstraint("stream IN ('funding', 'ohlcv')", name=op.f("ck_pair_extents_stream_known")),
        comment="Which exchange + symbol pairs hold rows of each stream, and from when to when; maintained by "
        "ingest (db.writes.extents) with every write and after retention",
    )  # fmt: skip
    op.execute("INSERT INTO pair_extents SELECT g.exchange, g.symbol, 'funding', g.first_time, g.last_time, "
               "i.funding_interval_hours, i.time FROM (SELECT exchange, symbol, min(time) AS first_time, "
               "max(time) AS last_time FROM funding_rates GROUP BY exchange, symbol) g LEFT JOIN ("
               "SELECT DISTINCT ON (exchange, symbol) exchange, symbol, funding_interval_hours, time "
               "FROM funding_rates WHERE settled AND funding_interval_hours IS NOT NULL "
               "ORDER BY exchange, symbol, time DESC) i USING (exchange, symbol)")
    op.execute("INSERT INTO pair_extents SELECT exchange, symbol, 'ohlcv', min(time), max(time) "
               "FROM prices WHERE price_kind = 'last' GROUP BY exchange, symbol")
    grant_market_table(op, "pair_extents")


def downgrade() -> None:
    op.drop_table("pair_extents")
