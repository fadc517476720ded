"""Volume anomalies on the logarithm of the 1-minute volume: metric ``volume_1m`` becomes ``log_volume_1m``.

Z-scores of the raw 1-minute volume (roughly log-normal) flagged ~120 robust anomalies per symbol and day on the
recorded ETH month; on its natural logarithm ~7 (``ingest/anomaly.py``). Stored ``volume_1m`` rows hold raw
volumes with centres and spreads in base units, which do not compare with the new metric, so ``upgrade``
deletes them (ingest writes ``log_volume_1m`` rows for new candles; ``python -m ingest backfill`` recomputes
history) and updates the column comment. ``downgrade`` deletes ``log_volume_1m`` rows and restores the comment.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = "funding_rate (fraction), log_return_1m (natural log), volume_1m (base units), premium (fraction)"
NEW = "funding_rate (fraction), log_return_1m (natural log), log_volume_1m (ln of base units), premium (fraction)"


def _switch(drop_metric: str, comment: str, previous: str) -> None:
    op.execute(sa.text("DELETE FROM anomalies WHERE metric = :m").bindparams(m=drop_metric))
    op.alter_column("anomalies", "metric", existing_type=sa.Text(), existing_nullable=False, comment=comment,
                    existing_comment=previous)


def upgrade() -> None:
    _switch("volume_1m", NEW, OLD)


def downgrade() -> None:
    _switch("log_volume_1m", OLD, NEW)
