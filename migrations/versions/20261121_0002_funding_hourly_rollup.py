"""Hourly funding-rate rollups: the ``funding_rates_1h`` hypertable, filled from the stored funding rows.

One row per exchange + symbol + settled flag + UTC hour that holds funding rows: the mean rate of the hour, the
values of the hour's last row and the number of rows (``db/schema.py`` describes every column). ``db.writes``
keeps it current (``write_funding`` upserts the hours it touched); ``db.queries.funding_series`` reads it for
buckets of 1 hour and coarser, so a 30-day chart aggregates ~720 rows per series instead of ~43,000
one-minute snapshots.

Chunks are 7 days, not the 1 day of the raw tables: the table holds at most 24 rows per series and day (~2,400
rows/day for 50 symbols), so 1-day chunks would be ~100 kB each and a 30-day read would plan and open 31 of
them; 7-day chunks keep it to 5-6. Retention (``drop_chunks``) then keeps up to 6 days more than the configured
age of these small rows.

``upgrade`` fills the table from the funding rows already stored (one ``INSERT … SELECT … GROUP BY`` hour), so
an existing database reads the same series before and after; ``downgrade`` drops the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "funding_rates_1h"

BACKFILL = f"""
INSERT INTO {TABLE} (time, exchange, symbol, settled, funding_rate, funding_rate_last, funding_interval_hours,
                     mark_price, index_price, rows)
SELECT time_bucket('1 hour', time), exchange, symbol, settled, avg(funding_rate), last(funding_rate, time),
       last(funding_interval_hours, time), last(mark_price, time), last(index_price, time), count(*)
FROM funding_rates
GROUP BY 1, exchange, symbol, settled
"""


#: (name, type, nullable, comment) of each column, as in ``db/schema.py``.
COLUMNS = (
    ("time", sa.DateTime(timezone=True), False, "UTC start of the hour (hypertable time column)"),
    ("exchange", sa.Text(), False, "ccxt exchange id"),
    ("symbol", sa.Text(), False, "ccxt unified symbol, e.g. BTC/USDT:USDT"),
    ("settled", sa.Boolean(), False, "as funding_rates.settled: settled rates or predicted snapshots"),
    ("funding_rate", sa.Double(), False, "mean funding rate of the hour's rows, fraction per funding interval"),
    ("funding_rate_last", sa.Double(), False, "funding rate of the hour's last row, fraction per funding interval"),
    ("funding_interval_hours", sa.Double(), True,
     "funding interval of the hour's last row, hours (NULL if that row has none)"),
    ("mark_price", sa.Double(), True, "mark price of the hour's last row, quote currency (NULL if that row has none)"),
    ("index_price", sa.Double(), True,
     "index price of the hour's last row, quote currency (NULL if that row has none)"),
    ("rows", sa.Integer(), False, "funding_rates rows in the hour"),
)


def upgrade() -> None:
    op.create_table(
        TABLE,
        *(sa.Column(name, type_, nullable=nullable, comment=comment) for name, type_, nullable, comment in COLUMNS),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False,
                  comment="UTC time the rollup row was last written"),
        sa.CheckConstraint("rows > 0", name="rows_positive"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "settled", "time", name=op.f("pk_funding_rates_1h")),
        comment="Hourly rollups of funding_rates, maintained by ingest (db.writes.write_funding)",
    )
    op.execute(
        f"SELECT create_hypertable('{TABLE}', by_range('time', INTERVAL '7 days'), create_default_indexes => false)"
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table(TABLE)  # drops the hypertable with its chunks
