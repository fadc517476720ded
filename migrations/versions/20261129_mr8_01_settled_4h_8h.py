"""Settled-funding rollups at the heatmap's bucket widths (``db/summaries.py``): ``funding_settled_4h`` and
``funding_settled_8h`` (4-hour and 8-hour ``time_bucket`` periods from 00 UTC), filled from the stored settled rows.

A heatmap cell of 4 h or 8 h is then one rollup row instead of 4 or 8 hourly ones (30 days × every Binance coin:
~48,000 rows read instead of ~380,000), and accumulated funding covers a window's partial days with fewer rows.
``db.writes`` keeps them exact from then on, as every rollup of ``db.summaries.SETTLED_ROLLUPS``; ingest writes
them, the app and the alerts worker read them (``db.roles.grant_market_table``). ``funding_settled_1h``, ``_4h``
and ``_8h`` get an index on ``time``: accumulated funding reads a window's partial days (a few periods at either
end) for every pair at once. ``downgrade`` drops the tables and the hourly rollup's time index.

Revision ID: mr8_01
Revises: mp8_01
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_market_table

revision = "mr8_01"
down_revision = "mp8_01"
branch_labels = None
depends_on = None

#: Table -> (its period in SQL, the period's name in column comments).
TABLES = {"funding_settled_4h": ("4 hours", "4-hour period"), "funding_settled_8h": ("8 hours", "8-hour period")}
#: Columns of the covering index (every value: the heatmap reads the annualised sums, accumulated funding the rest).
COVERING = ("settlements", "rate_sum", "annualised_sum", "annualised_rows", "first_time", "last_time",
            "last_interval_hours")
FILL_SETTLED = """
INSERT INTO {table} (time, exchange, symbol, settlements, rate_sum, annualised_sum, annualised_rows, first_time,
                     last_time, last_interval_hours)
SELECT time_bucket('{width}', time), exchange, symbol, count(*), sum(funding_rate),
       COALESCE(sum(funding_rate * 8760.0 / funding_interval_hours), 0), count(funding_interval_hours), min(time),
       max(time), last(funding_interval_hours, time)
FROM funding_rates WHERE settled GROUP BY 1, exchange, symbol"""


def _settled_rollup(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, comment=f"UTC start of the {period}"),
        sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
        sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT"),
        sa.Column("settlements", sa.Integer(), nullable=False,
                  comment=f"settled funding_rates rows in the {period}"),
        sa.Column("rate_sum", sa.Double(), nullable=False,
                  comment="sum of their rates, fractions per funding interval"),
        sa.Column("annualised_sum", sa.Double(), nullable=False,
                  comment="sum of rate × 8760 / funding_interval_hours over those stating an interval, per year"),
        sa.Column("annualised_rows", sa.Integer(), nullable=False, comment="rows stating an interval"),
        sa.Column("first_time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC time of the first settlement"),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False, comment="UTC time of the last settlement"),
        sa.Column("last_interval_hours", sa.Double(),
                  comment="funding interval of the last settlement, hours (or NULL)"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "time", name=op.f(f"pk_{name}")),
        sa.CheckConstraint("settlements > 0", name=op.f(f"ck_{name}_settlements_positive")),
        comment=f"Settled funding per exchange + symbol + {period}, kept by ingest (db.writes.write_funding)",
    )  # fmt: skip


def upgrade() -> None:
    for table, (width, period) in TABLES.items():
        _settled_rollup(table, period)
        op.create_index(f"ix_{table}_covering", table, ["exchange", "symbol", "time"],
                        postgresql_include=list(COVERING))
        op.execute(FILL_SETTLED.format(table=table, width=width))
        grant_market_table(op, table)
    for table in ("funding_settled_1h", *TABLES):
        op.create_index(f"ix_{table}_time", table, ["time"])


def downgrade() -> None:
    op.drop_index("ix_funding_settled_1h_time", table_name="funding_settled_1h")
    for table in reversed(TABLES):
        op.drop_table(table)
