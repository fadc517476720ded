"""15-minute funding-rate rollups: the ``funding_rates_15m`` hypertable, filled from the stored funding rows.

Same columns, key and meaning as ``funding_rates_1h`` (revision 0002), per UTC 15-minute bucket instead of per
hour: the bucket's mean rate, its last row's values, its row count (``db/schema.py`` describes every column).
``db.writes.write_funding`` keeps both current (``db.schema.FUNDING_ROLLUPS``); ``db.queries.funding_series`` reads
this one for 15-minute buckets, so a 7-day chart aggregates 672 rows per series and settled flag instead of
~10,000 one-minute snapshots.

Chunks are 7 days like ``funding_rates_1h`` (at most 96 rows per series and day): a 7-day read opens 2 chunks.

``upgrade`` fills the table from the funding rows already stored (one ``INSERT … SELECT … GROUP BY`` 15-minute
bucket), since ``funding_series`` reads raw rows only for a pair with no rollup row in the range and would
otherwise chart only the part written after the upgrade; ``downgrade`` drops the table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "funding_rates_15m"
PERIOD = "15-minute bucket"

BACKFILL = f"""
INSERT INTO {TABLE} (time, exchange, symbol, settled, funding_rate, funding_rate_last, funding_interval_hours,
                     mark_price, index_price, rows)
SELECT time_bucket('15 minutes', time), exchange, symbol, settled, avg(funding_rate), last(funding_rate, time),
       last(funding_interval_hours, time), last(mark_price, time), last(index_price, time), count(*)
FROM funding_rates
GROUP BY 1, exchange, symbol, settled
"""


#: (name, type, nullable, comment) of each column, as in ``db/schema.py``.
COLUMNS = (
    ("time", sa.DateTime(timezone=True), False, f"UTC start of the {PERIOD} (hypertable time column)"),
    ("exchange", sa.Text(), False, "ccxt exchange id"),
    ("symbol", sa.Text(), False, "ccxt unified symbol, e.g. BTC/USDT:USDT"),
    ("settled", sa.Boolean(), False, "as funding_rates.settled: settled rates or predicted snapshots"),
    ("funding_rate", sa.Double(), False, f"mean funding rate of the {PERIOD}'s rows, fraction per funding interval"),
    ("funding_rate_last", sa.Double(), False,
     f"funding rate of the {PERIOD}'s last row, fraction per funding interval"),
    ("funding_interval_hours", sa.Double(), True,
     f"funding interval of the {PERIOD}'s last row, hours (NULL if that row has none)"),
    ("mark_price", sa.Double(), True,
     f"mark price of the {PERIOD}'s last row, quote currency (NULL if that row has none)"),
    ("index_price", sa.Double(), True,
     f"index price of the {PERIOD}'s last row, quote currency (NULL if that row has none)"),
    ("rows", sa.Integer(), False, f"funding_rates rows in the {PERIOD}"),
)


def upgrade() -> None:
    op.create_table(
        TABLE,
        *(sa.Column(name, type_, nullable=nullable, comment=comment) for name, type_, nullable, comment in COLUMNS),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False,
                  comment="UTC time the rollup row was last written"),
        sa.CheckConstraint("rows > 0", name="rows_positive"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "settled", "time", name=op.f(f"pk_{TABLE}")),
        comment="15-minute rollups of funding_rates, maintained by ingest (db.writes.write_funding)",
    )
    op.execute(
        f"SELECT create_hypertable('{TABLE}', by_range('time', INTERVAL '7 days'), create_default_indexes => false)"
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table(TABLE)  # drops the hypertable with its chunks
