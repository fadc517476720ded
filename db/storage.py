"""Storage facts of the hypertables (read only): size on disk and chunk count, for the System page.

Kept apart from :mod:`db.queries` (market and metric series) because it reads TimescaleDB's catalog, not data.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

_SIZES_SQL = text(
    """
SELECT h.hypertable_name AS table_name,
       hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) AS total_bytes,
       h.num_chunks AS chunks
FROM timescaledb_information.hypertables h
ORDER BY h.hypertable_name
"""
)


def hypertable_sizes(conn: Connection) -> pd.DataFrame:
    """Every hypertable of the connected database with ``table_name``, ``total_bytes`` (int, bytes: table,
    indexes and TOAST of all chunks, TimescaleDB's ``hypertable_size()``) and ``chunks`` (int, number of
    chunks). Sorted by name. Raises SQLAlchemy's ``ProgrammingError`` when TimescaleDB is not installed.
    """
    result = conn.execute(_SIZES_SQL)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.astype({"total_bytes": "int64", "chunks": "int64"}) if len(frame) else frame
