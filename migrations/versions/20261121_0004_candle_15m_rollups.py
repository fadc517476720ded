"""15-minute candle rollups: ``timeframe='15m'`` rows in ``prices``, filled from the stored 1-minute candles.

No schema change (``timeframe`` is free text). From this revision ``db.writes.write_candles`` upserts 15-minute
rollup candles next to the 1-hour ones (``db.writes.ROLLUP_TIMEFRAMES``), and ``db.queries.price_series`` reads
them for 15-minute buckets (a 7-day chart: 672 rows per series instead of ~10,000 one-minute candles). It reads
a finer timeframe only for a pair with no 15-minute row in the range, so a database holding 1-minute history
without them would chart only the part written after the upgrade: ``upgrade`` therefore aggregates every stored
1-minute candle into its 15-minute bucket (open = ``first(open, time)``, high = ``max``, low = ``min``,
close = ``last(close, time)``, volume and quote volume = ``sum``; the rule of ``db.writes``), ``ON CONFLICT DO
NOTHING``. ``downgrade`` deletes the 15-minute rows (older code would read them without maintaining them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO prices (time, exchange, symbol, timeframe, price_kind, open, high, low, close, volume, quote_volume)
SELECT time_bucket('15 minutes', time), exchange, symbol, '15m', price_kind, first(open, time), max(high),
       min(low), last(close, time), sum(volume), sum(quote_volume)
FROM prices
WHERE timeframe = '1m'
GROUP BY 1, exchange, symbol, price_kind
ON CONFLICT ON CONSTRAINT pk_prices DO NOTHING
"""


def upgrade() -> None:
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DELETE FROM prices WHERE timeframe = '15m'")
