"""Premium (basis) in the funding rollups: ``premium`` (mean (mark − index) / index of the bucket's rows with both
prices, fraction) and ``premium_rows`` (their count) on ``funding_rates_15m`` and ``funding_rates_1h``, filled from the
stored ``funding_rates`` rows of every existing rollup row.

The premium chart (``db.queries.premium_series``) aggregated every one-minute funding snapshot of its range: 216,000
rows for 5 coins over 30 days, ~60-140 ms of a cold Markets opening (issue 10); from the rollups it reads 720 rows a
coin (1-hour buckets) or 672 (15-minute buckets of 7 days). ``db.writes`` keeps both columns with the other rollup
values (recompute, append re-weighted by ``premium_rows``, close of an hour). The upgrade reads every stored row
with both prices once (one aggregate per rollup table; on a deployment keeping 30 days of the whole universe's
one-minute snapshots, tens of millions of rows: minutes, with the rollups locked for writes meanwhile, so ingest
waits). ``downgrade`` drops the columns.

Revision ID: pr10_01
Revises: ci10_01
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pr10_01"
down_revision = "ci10_01"
branch_labels = None
depends_on = None

#: Rollup table -> bucket width (as ``db.schema.FUNDING_ROLLUPS``, copied: a migration does not change).
TABLES = {"funding_rates_15m": ("15 minutes", "15-minute bucket"), "funding_rates_1h": ("1 hour", "hour")}
#: As ``db.summaries.PREMIUM_SQL`` (copied).
PREMIUM = "(mark_price - index_price) / index_price"

#: Every rollup row's premium from its bucket's raw rows (rows before the rollup horizon or settled: exactly the
#: buckets that have a rollup row, so the join finds them all). One pass over the rows that have both prices.
FILL = """
UPDATE {table} r SET premium = a.premium, premium_rows = a.n
FROM (SELECT time_bucket(INTERVAL '{width}', time) AS time, exchange, symbol, settled,
             avg({premium}) AS premium, count({premium}) AS n
      FROM funding_rates WHERE mark_price IS NOT NULL AND index_price IS NOT NULL
      GROUP BY 1, 2, 3, 4) a
WHERE r.exchange = a.exchange AND r.symbol = a.symbol AND r.settled = a.settled AND r.time = a.time
"""


def upgrade() -> None:
    for table, (width, period) in TABLES.items():
        op.add_column(table, sa.Column(
            "premium", sa.Double(),
            comment=f"mean premium (mark - index) / index of the {period}'s rows with both prices, fraction "
                    "(NULL if none)"))  # fmt: skip
        op.add_column(table, sa.Column(
            "premium_rows", sa.Integer(), nullable=False, server_default=sa.text("0"),
            comment=f"rows of the {period} with both mark and index price (those premium averages)"))  # fmt: skip
        op.execute(FILL.format(table=table, width=width, premium=PREMIUM))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "premium_rows")
        op.drop_column(table, "premium")
