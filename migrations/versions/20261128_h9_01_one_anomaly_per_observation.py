"""One anomaly per observation: ``anomalies`` keyed by (exchange, symbol, metric, time), without ``method``.

The same observation was stored once per method (``zscore`` and ``robust``), doubling the counts. ``upgrade``
keeps, for each observation, the row of largest |z| (preferring ``robust``), records the z of every method it had
in ``metadata.z``, re-keys the table and updates the column comments. ``python -m ingest recompute-anomalies``
then rewrites the stored anomalies with the per-metric methods of ``ingest/anomaly``. ``downgrade`` restores the
old key (the rows kept stay valid under it).

Revision ID: h9_01
Revises: h10_02
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.schema import CENTRE_COMMENT, METADATA_COMMENT, METHOD_COMMENT, SPREAD_COMMENT

revision = "h9_01"
down_revision = "h10_02"
branch_labels = None
depends_on = None

OLD_METHOD = "zscore (mean/std, ddof=0) or robust (median/MAD×1.4826)"
OLD_METADATA = "extra context"
OLD_CENTRE = "trailing mean or median, metric's unit"
OLD_SPREAD = "trailing std or 1.4826×MAD, metric's unit"
_MERGE = """
WITH z AS (
    SELECT exchange, symbol, metric, time, jsonb_object_agg(method, z_score) AS z
    FROM anomalies GROUP BY exchange, symbol, metric, time HAVING count(*) > 1
), ranked AS (
    SELECT a.tableoid AS tbl, a.ctid AS id, row_number() OVER (PARTITION BY a.exchange, a.symbol, a.metric, a.time
                                          ORDER BY abs(a.z_score) DESC, a.method = 'robust' DESC) AS n, z.z
    FROM anomalies a JOIN z USING (exchange, symbol, metric, time)
), gone AS (
    DELETE FROM anomalies a USING ranked r WHERE a.tableoid = r.tbl AND a.ctid = r.id AND r.n > 1
)
UPDATE anomalies a SET metadata = a.metadata || jsonb_build_object('z', r.z) FROM ranked r
WHERE a.tableoid = r.tbl AND a.ctid = r.id AND r.n = 1
"""  # ctid is unique within a chunk only, hence tableoid


def upgrade() -> None:
    op.execute(sa.text(_MERGE))
    op.drop_constraint("pk_anomalies", "anomalies", type_="primary")
    op.create_primary_key("pk_anomalies", "anomalies", ["exchange", "symbol", "metric", "time"])
    _comments(METHOD_COMMENT, METADATA_COMMENT, OLD_METHOD, OLD_METADATA)
    _values_comments(CENTRE_COMMENT, SPREAD_COMMENT, OLD_CENTRE, OLD_SPREAD)


def downgrade() -> None:
    op.drop_constraint("pk_anomalies", "anomalies", type_="primary")
    op.create_primary_key("pk_anomalies", "anomalies", ["exchange", "symbol", "metric", "method", "time"])
    _comments(OLD_METHOD, OLD_METADATA, METHOD_COMMENT, METADATA_COMMENT)
    _values_comments(OLD_CENTRE, OLD_SPREAD, CENTRE_COMMENT, SPREAD_COMMENT)


def _values_comments(centre: str, spread: str, old_centre: str, old_spread: str) -> None:
    for column, comment, old in (("centre", centre, old_centre), ("spread", spread, old_spread)):
        op.alter_column(
            "anomalies",
            column,
            existing_type=sa.Double(),
            existing_nullable=False,
            comment=comment,
            existing_comment=old,
        )


def _comments(method: str, metadata: str, old_method: str, old_metadata: str) -> None:
    op.alter_column(
        "anomalies",
        "method",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment=method,
        existing_comment=old_method,
    )
    op.alter_column(
        "anomalies",
        "metadata",
        existing_nullable=False,
        comment=metadata,
        existing_comment=old_metadata,
        existing_type=sa.dialects.postgresql.JSONB(),
    )
