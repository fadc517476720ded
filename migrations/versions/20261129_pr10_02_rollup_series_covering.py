"""Covering series indexes of the funding rollups: ``ix_funding_rates_15m_series_covering`` and
``ix_funding_rates_1h_series_covering`` on the primary key's columns (exchange, symbol, settled, time) including the
values the chart reads and the refresh fingerprint use (rate, interval, rows, premium and its rows, ``updated_at``).

A pair's rollup rows of a 7-day chunk lie on as many heap pages as rows (the close of an hour writes every pair's row
at once), so the series reads visited ~600 heap pages per pair for 30 days; index-only now (measured on ``make
bench-app``'s data, 11 pairs x 30 days: ``funding_series`` ~16 -> ~11-14 ms of execution, the Overview's fingerprint
of the funding rollup 7.4 -> 3.1 ms). One more index per rollup table to keep on writes (rows of closed hours only
change when a settled rate or a correction arrives). ``downgrade`` drops them.

Revision ID: pr10_02
Revises: pr10_01
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "pr10_02"
down_revision = "pr10_01"
branch_labels = None
depends_on = None

TABLES = ("funding_rates_15m", "funding_rates_1h")
#: As ``db.schema.ROLLUP_SERIES_COVERING`` (copied: a migration does not change).
INCLUDE = ["funding_rate", "funding_interval_hours", "rows", "premium", "premium_rows", "updated_at"]


def upgrade() -> None:
    for table in TABLES:
        op.create_index(f"ix_{table}_series_covering", table, ["exchange", "symbol", "settled", "time"],
                        postgresql_include=INCLUDE)  # fmt: skip


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_series_covering", table_name=table)
