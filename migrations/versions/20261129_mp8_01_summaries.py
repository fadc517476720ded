"""Summary tables of the market-wide reads (``db/summaries.py``): ``funding_newest``, ``open_interest_newest``,
``funding_settled_1h`` and ``funding_settled_1d``, filled from the stored rows.

``db.writes`` keeps them exact from then on (``db.writes.summaries``; retention through ``refresh_summaries``);
ingest writes them, the app and the alerts worker read them (``db.roles.grant_market_table``). The newest rows are
found by one primary-key probe per pair of the ``pair_extents`` catalogue; the settled rollups by one grouped
read of the settled rows. The tables updated in place every live minute get a fillfactor (:data:`FILLFACTORS`).
``downgrade`` drops the four tables and resets the others' fillfactor.

Revision ID: mp8_01
Revises: h8_01
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_market_table

revision = "mp8_01"
down_revision = "h8_01"
branch_labels = None
depends_on = None

_NEWEST = ("funding_rate", "funding_interval_hours", "mark_price", "index_price", "next_funding_time")
FILL_FUNDING_NEWEST = f"""
INSERT INTO funding_newest (exchange, symbol, settled, time, {", ".join(_NEWEST)})
SELECT e.exchange, e.symbol, k.settled, r.time, {", ".join(f"r.{c}" for c in _NEWEST)}
FROM pair_extents e CROSS JOIN (VALUES (false), (true)) AS k(settled)
CROSS JOIN LATERAL (SELECT * FROM funding_rates f WHERE f.exchange = e.exchange AND f.symbol = e.symbol
                    AND f.settled = k.settled ORDER BY f.time DESC LIMIT 1) r
WHERE e.stream = 'funding'"""
FILL_OPEN_INTEREST_NEWEST = """
INSERT INTO open_interest_newest (exchange, symbol, time, open_interest_value)
SELECT e.exchange, e.symbol, r.time, r.open_interest_value
FROM pair_extents e CROSS JOIN LATERAL (
    SELECT o.time, o.open_interest_value FROM (VALUES ('live'), ('history'), ('recorded')) AS k(source)
    CROSS JOIN LATERAL (SELECT time, open_interest_value FROM open_interest WHERE exchange = e.exchange
                        AND symbol = e.symbol AND source = k.source AND open_interest_value IS NOT NULL
                        ORDER BY time DESC LIMIT 1) o
    ORDER BY o.time DESC LIMIT 1) r
WHERE e.stream = 'open_interest'"""
FILL_SETTLED = """
INSERT INTO {table} (time, exchange, symbol, settlements, rate_sum, annualised_sum, annualised_rows, first_time,
                     last_time, last_interval_hours)
SELECT time_bucket('{width}', time), exchange, symbol, count(*), sum(funding_rate),
       COALESCE(sum(funding_rate * 8760.0 / funding_interval_hours), 0), count(funding_interval_hours), min(time),
       max(time), last(funding_interval_hours, time)
FROM funding_rates WHERE settled GROUP BY 1, exchange, symbol"""


#: Covering indexes of the settled rollups (as ``db.summaries.COVERING``, copied: a migration does not change).
COVERING = {
    "funding_settled_1h": ("annualised_sum", "annualised_rows", "settlements", "rate_sum"),
    "funding_settled_1d": ("settlements", "rate_sum", "annualised_sum", "annualised_rows", "first_time",
                           "last_time", "last_interval_hours"),
}
#: Free space left in each page of the tables every live minute updates in place (one row per pair, or per pair
#: and open bucket), so the update is HOT (same page, no index entry): ``make bench-market``'s snapshot write.
FILLFACTORS = {"funding_newest": 50, "open_interest_newest": 50, "pair_extents": 50, "funding_rates_15m": 60,
               "funding_rates_1h": 60}


def _pair() -> list[sa.Column]:
    return [sa.Column("exchange", sa.Text(), nullable=False, comment="ccxt exchange id"),
            sa.Column("symbol", sa.Text(), nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT")]


def _settled_rollup(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, comment=f"UTC start of the {period}"),
        *_pair(),
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
    op.create_table(
        "funding_newest",
        *_pair(),
        sa.Column("settled", sa.Boolean(), nullable=False, comment="as funding_rates.settled"),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC time of the newest row of that kind"),
        sa.Column("funding_rate", sa.Double(), nullable=False, comment="its rate, fraction per funding interval"),
        sa.Column("funding_interval_hours", sa.Double(),
                  comment="its funding interval, hours (NULL if it states none)"),
        sa.Column("mark_price", sa.Double(), comment="its mark price, quote currency"),
        sa.Column("index_price", sa.Double(), comment="its index price, quote currency"),
        sa.Column("next_funding_time", sa.DateTime(timezone=True), comment="its next settlement time, UTC"),
        sa.PrimaryKeyConstraint("exchange", "symbol", "settled", name=op.f("pk_funding_newest")),
        comment="Newest funding_rates row per exchange + symbol + settled flag, kept by ingest (db.writes)",
    )  # fmt: skip
    op.create_table(
        "open_interest_newest",
        *_pair(),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False,
                  comment="UTC time of the newest open_interest row (any source) with a quote notional"),
        sa.Column("open_interest_value", sa.Double(), nullable=False, comment="its notional, quote currency"),
        sa.PrimaryKeyConstraint("exchange", "symbol", name=op.f("pk_open_interest_newest")),
        comment="Newest open-interest notional per exchange + symbol, kept by ingest (db.writes)",
    )  # fmt: skip
    _settled_rollup("funding_settled_1h", "hour")
    _settled_rollup("funding_settled_1d", "day")
    for table, columns in COVERING.items():
        op.create_index(f"ix_{table}_covering", table, ["exchange", "symbol", "time"], postgresql_include=list(columns))
    op.execute(FILL_FUNDING_NEWEST)
    op.execute(FILL_OPEN_INTEREST_NEWEST)
    op.execute(FILL_SETTLED.format(table="funding_settled_1h", width="1 hour"))
    op.execute(FILL_SETTLED.format(table="funding_settled_1d", width="1 day"))
    for table in ("funding_newest", "open_interest_newest", "funding_settled_1h", "funding_settled_1d"):
        grant_market_table(op, table)
    for table, percent in FILLFACTORS.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")


def downgrade() -> None:
    for table in FILLFACTORS:
        if not table.endswith("_newest"):
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    for table in ("funding_settled_1d", "funding_settled_1h", "open_interest_newest", "funding_newest"):
        op.drop_table(table)
