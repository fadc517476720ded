"""``funding_rollup_horizon`` (``db/summaries.py``): the 15-minute and hourly funding rollups of predicted (live)
snapshots are written when their hour closes instead of every minute (``db.writes.rollups``); this one-row table
says up to which UTC hour start the rollups hold the predicted rows, and the funding reads take raw rows from it on.

Filled with the hour after the newest stored predicted row (every stored row is in the rollups, as the writes kept
them until now); no predicted row: no row (read as ``-infinity``). Ingest writes it, the app and the alerts worker
read it (``db.roles.grant_market_table``). ``downgrade`` first writes the rollup rows of the predicted rows from the
horizon on (the old writes keep every row's buckets), then drops the table.

Revision ID: mr8_02
Revises: mr8_01
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_market_table

revision = "mr8_02"
down_revision = "mr8_01"
branch_labels = None
depends_on = None

FILL = """INSERT INTO funding_rollup_horizon (id, predicted_until)
SELECT true, time_bucket('1 hour', max(time)) + interval '1 hour' FROM funding_rates WHERE NOT settled
HAVING max(time) IS NOT NULL"""

#: The rollup rows of the predicted rows at or after the horizon (downgrade), as ``db.writes.rollups`` writes them.
ROLL = """INSERT INTO {table} (time, exchange, symbol, settled, funding_rate, funding_rate_last, funding_interval_hours,
                     mark_price, index_price, rows)
SELECT time_bucket('{width}', time), exchange, symbol, settled, avg(funding_rate), last(funding_rate, time),
       last(funding_interval_hours, time), last(mark_price, time), last(index_price, time), count(*)
FROM funding_rates
WHERE NOT settled AND time >= COALESCE((SELECT predicted_until FROM funding_rollup_horizon), '-infinity')
GROUP BY 1, exchange, symbol, settled
ON CONFLICT ON CONSTRAINT pk_{table} DO NOTHING"""


def upgrade() -> None:
    op.create_table(
        "funding_rollup_horizon",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False, comment="always true: one row"),
        sa.Column("predicted_until", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC hour start: predicted funding_rates rows before it are in funding_rates_15m/_1h, "
                          "rows at or after it not yet"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_rollup_horizon")),
        sa.CheckConstraint("id", name=op.f("ck_funding_rollup_horizon_one_row")),
        comment="How far the funding rollups hold the predicted (live) rows, kept by ingest (db.writes.rollups)",
    )  # fmt: skip
    op.execute(FILL)
    grant_market_table(op, "funding_rollup_horizon")


def downgrade() -> None:
    for table, width in (("funding_rates_15m", "15 minutes"), ("funding_rates_1h", "1 hour")):
        op.execute(ROLL.format(table=table, width=width))
    op.drop_table("funding_rollup_horizon")
