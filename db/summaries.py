"""Summary tables that ``db.writes`` keeps exact beside the hypertables, so the market-wide reads (issue 8) need
neither a probe per pair and chunk nor a scan of raw rows (revision ``mp8_01``; ``make bench-market``).

* ``funding_newest``: per exchange + symbol + settled flag, a copy of its newest ``funding_rates`` row (as stored,
  after the upsert's ``COALESCE``).
* ``open_interest_newest``: per exchange + symbol, the time and quote notional of its newest ``open_interest`` row
  (any source) that has a notional.
* ``funding_settled_1h`` / ``_4h`` / ``_8h`` / ``_1d``: per exchange + symbol + UTC hour / 4 hours / 8 hours / day
  (``time_bucket`` periods from 00 UTC; ``_4h`` and ``_8h``, the heatmap's bucket widths, so a cell is one row,
  added by revision ``mr8_01``) holding settled funding rows, their count, sum of rates, sum of annualised rates
  (rate × 8,760 / the row's own interval, rows stating an interval), first/last settlement time and the interval
  of the last one. Sums make any coarser bucket of
  whole periods exact: its mean annualised rate is ``sum(annualised_sum) / sum(annualised_rows)``.

Invariant (``tests/test_summaries.py``): each table equals the same aggregate computed on the raw rows after any
sequence of writes, replays and retention (``db.writes.summaries``). Plain tables, not hypertables: a few rows per
pair (newest), ≤ 24 per pair and day (hourly); retention deletes what its ``drop_chunks`` removed
(:func:`db.writes.summaries.refresh_summaries`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)

from db.schema import metadata


def _pair() -> list[Column]:
    return [Column("exchange", Text, nullable=False, comment="ccxt exchange id"),
            Column("symbol", Text, nullable=False, comment="ccxt unified symbol, e.g. BTC/USDT:USDT")]  # fmt: skip


funding_newest = Table(
    "funding_newest",
    metadata,
    *_pair(),
    Column("settled", Boolean, nullable=False, comment="as funding_rates.settled"),
    Column("time", DateTime(timezone=True), nullable=False, comment="UTC time of the newest row of that kind"),
    Column("funding_rate", Double, nullable=False, comment="its rate, fraction per funding interval"),
    Column("funding_interval_hours", Double, comment="its funding interval, hours (NULL if it states none)"),
    Column("mark_price", Double, comment="its mark price, quote currency"),
    Column("index_price", Double, comment="its index price, quote currency"),
    Column("next_funding_time", DateTime(timezone=True), comment="its next settlement time, UTC"),
    PrimaryKeyConstraint("exchange", "symbol", "settled"),
    comment="Newest funding_rates row per exchange + symbol + settled flag, kept by ingest (db.writes)",
)

open_interest_newest = Table(
    "open_interest_newest",
    metadata,
    *_pair(),
    Column("time", DateTime(timezone=True), nullable=False,
           comment="UTC time of the newest open_interest row (any source) with a quote notional"),
    Column("open_interest_value", Double, nullable=False, comment="its notional, quote currency"),
    PrimaryKeyConstraint("exchange", "symbol"),
    comment="Newest open-interest notional per exchange + symbol, kept by ingest (db.writes)",
)


funding_rollup_horizon = Table(
    "funding_rollup_horizon",
    metadata,
    Column("id", Boolean, nullable=False, server_default=text("true"), comment="always true: one row"),
    Column("predicted_until", DateTime(timezone=True), nullable=False,
           comment="UTC hour start: predicted funding_rates rows before it are in funding_rates_15m/_1h, "
                   "rows at or after it not yet"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("id", name="one_row"),
    comment="How far the funding rollups hold the predicted (live) rows, kept by ingest (db.writes.rollups)",
)
"""``funding_rollup_horizon`` (revision ``mr8_02``): the live minute write leaves the 15-minute and hourly rollup
rows of predicted snapshots to the close of their hour (``db.writes.rollups``); the funding reads take rollup rows
before ``predicted_until`` and raw rows from it on. No row means ``-infinity`` (no predicted row rolled up yet)."""

#: The rollup horizon as an SQL expression (``-infinity`` without a row).
HORIZON_SQL = "COALESCE((SELECT predicted_until FROM funding_rollup_horizon), '-infinity')"

#: Premium (basis) of a ``funding_rates`` row as an SQL expression, fraction: (mark − index) / index, the venues'
#: definition of the premium behind funding (e.g. Binance ``premiumIndex``: ``markPrice``, ``indexPrice``); NULL when
#: either price is (``index_price`` is positive by a check constraint). The funding rollups keep its mean and count.
PREMIUM_SQL = "(mark_price - index_price) / index_price"


def _settled_rollup(name: str, period: str) -> Table:
    """A settled-funding rollup ``name``: one row per exchange + symbol + UTC ``period`` holding settled rows."""
    return Table(
        name,
        metadata,
        Column("time", DateTime(timezone=True), nullable=False, comment=f"UTC start of the {period}"),
        *_pair(),
        Column("settlements", Integer, nullable=False, comment=f"settled funding_rates rows in the {period}"),
        Column("rate_sum", Double, nullable=False, comment="sum of their rates, fractions per funding interval"),
        Column("annualised_sum", Double, nullable=False,
               comment="sum of rate × 8760 / funding_interval_hours over those stating an interval, per year"),
        Column("annualised_rows", Integer, nullable=False, comment="rows stating an interval"),
        Column("first_time", DateTime(timezone=True), nullable=False, comment="UTC time of the first settlement"),
        Column("last_time", DateTime(timezone=True), nullable=False, comment="UTC time of the last settlement"),
        Column("last_interval_hours", Double, comment="funding interval of the last settlement, hours (or NULL)"),
        PrimaryKeyConstraint("exchange", "symbol", "time"),
        CheckConstraint("settlements > 0", name="settlements_positive"),
        comment=f"Settled funding per exchange + symbol + {period}, kept by ingest (db.writes.write_funding)",
    )


funding_settled_1h = _settled_rollup("funding_settled_1h", "hour")
funding_settled_4h = _settled_rollup("funding_settled_4h", "4-hour period")
funding_settled_8h = _settled_rollup("funding_settled_8h", "8-hour period")
funding_settled_1d = _settled_rollup("funding_settled_1d", "day")

#: Covering indexes: a pair's periods lie on as many heap pages as periods (rows arrive for every pair at once), so
#: the reads scan these index-only (heatmap cells: the annualised sums; accumulated funding: every value).
COVERING: dict[str, tuple[str, ...]] = {
    "funding_settled_1h": ("annualised_sum", "annualised_rows", "settlements", "rate_sum"),
    **{name: ("settlements", "rate_sum", "annualised_sum", "annualised_rows", "first_time", "last_time",
              "last_interval_hours") for name in ("funding_settled_4h", "funding_settled_8h", "funding_settled_1d")},
}
for _table in (funding_settled_1h, funding_settled_4h, funding_settled_8h, funding_settled_1d):
    Index(f"ix_{_table.name}_covering", _table.c.exchange, _table.c.symbol, _table.c.time,
          postgresql_include=list(COVERING[_table.name]))
#: Covering time indexes of the rollups finer than a day (revisions ``mr8_01``, ``rd30_01``): accumulated funding
#: reads a window's partial days for every pair at once (a few periods at either end) instead of one scan per pair
#: and period, index-only (the rows of one period lie on as many heap pages as pairs).
TIME_COVERING = ("exchange", "symbol", "settlements", "rate_sum", "first_time", "last_time", "last_interval_hours")
for _table in (funding_settled_1h, funding_settled_4h, funding_settled_8h):
    Index(f"ix_{_table.name}_time_covering", _table.c.time, postgresql_include=list(TIME_COVERING))

#: Settled-funding rollups by period, finest first (``db.writes`` keeps each; reads take the coarsest that tiles).
#: Each period divides the next, and the day (``db.writes.summaries`` recomputes whole days).
SETTLED_ROLLUPS: dict[timedelta, Table] = {timedelta(hours=1): funding_settled_1h,
                                           timedelta(hours=4): funding_settled_4h,
                                           timedelta(hours=8): funding_settled_8h,
                                           timedelta(days=1): funding_settled_1d}

SUMMARY_TABLES: tuple[Table, ...] = (funding_newest, open_interest_newest, *SETTLED_ROLLUPS.values(),
                                     funding_rollup_horizon)
