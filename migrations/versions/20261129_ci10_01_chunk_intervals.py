"""Longer chunks for the two hypertables whose reads span many of them: ``prices`` 1 -> 7 days, ``anomalies`` 1 -> 30
days (``set_chunk_time_interval``: chunks made from now on; existing 1-day chunks stay until retention drops them).

Every chart read is a ``LATERAL`` probe per pair into every chunk of its range, so a 30-day view of 1-day chunks
plans and opens 31 chunks per probe: the Overview's 30-day price series of 5 coins took ~9 ms to plan and ~12 ms to
run over 1-day chunks, ~2.5 and ~7 ms over 7-day chunks (measured here on ``make bench-app``'s data, issue 10: cold
openings). Sizes: ``prices`` holds the followed symbols' 1-minute candles and their rollups (~19 MB a day for 50
symbols, ~130 MB a 7-day chunk; a chunk with its indexes should stay well under a quarter of the server's memory);
``anomalies`` holds a few hundred rows a day. ``funding_rates`` and ``open_interest`` keep 1-day chunks: they hold
the whole funding universe every minute (~1,800 pairs, ~2.6 M rows a day). Retention drops whole chunks, so a
7-day (30-day) chunk goes when its newest day passes the cutoff. ``downgrade`` sets 1 day again.

Revision ID: ci10_01
Revises: rd30_01
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "ci10_01"
down_revision = "rd30_01"
branch_labels = None
depends_on = None

#: New chunk interval per table (as ``db.schema.CHUNK_INTERVALS``, copied: a migration does not change).
INTERVALS = {"prices": "7 days", "anomalies": "30 days"}


def upgrade() -> None:
    for table, interval in INTERVALS.items():
        op.execute(f"SELECT set_chunk_time_interval('{table}', INTERVAL '{interval}')")


def downgrade() -> None:
    for table in INTERVALS:
        op.execute(f"SELECT set_chunk_time_interval('{table}', INTERVAL '1 day')")
