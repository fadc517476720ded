"""Storage facts of the hypertables (read only): size on disk and chunk count, measured (:func:`hypertable_sizes`,
which the ingest worker samples) and as sampled (:func:`sampled_sizes`, which the System page shows).

Kept apart from :mod:`db.queries` (market and metric series) because it reads TimescaleDB's catalog, not data.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

#: Per hypertable: its own (empty) root table plus every chunk from ``show_chunks()``, each measured by
#: ``pg_total_relation_size`` (table, indexes, TOAST). The same bytes as TimescaleDB's ``hypertable_size()`` on the
#: Apache edition (``tests/test_storage.py``) in about 2/3 of its time (33 vs 51 ms over 1,029 chunks, ``make
#: bench-app``'s database); ``hypertable_size()`` also counts compressed chunks' data, which the Apache edition and
#: this project do not make.
_SIZES_SQL = text(
    """
SELECT h.hypertable_name AS table_name, pg_total_relation_size(t.rel) + COALESCE(c.bytes, 0) AS total_bytes,
       c.chunks
FROM timescaledb_information.hypertables h
CROSS JOIN LATERAL (SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass AS rel) t
CROSS JOIN LATERAL (SELECT sum(pg_total_relation_size(chunk)) AS bytes, count(*) AS chunks
                    FROM show_chunks(t.rel) AS chunk) c
ORDER BY h.hypertable_name
"""
)


def hypertable_sizes(conn: Connection) -> pd.DataFrame:
    """Every hypertable of the connected database with ``table_name``, ``total_bytes`` (int, bytes: table,
    indexes and TOAST of the hypertable and all its chunks, as TimescaleDB's ``hypertable_size()`` counts them
    without compression; :data:`_SIZES_SQL`) and ``chunks`` (int, number of chunks). Sorted by name. Raises
    SQLAlchemy's ``ProgrammingError`` when TimescaleDB is not installed.
    """
    result = conn.execute(_SIZES_SQL)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.astype({"total_bytes": "int64", "chunks": "int64"}) if len(frame) else frame


#: The ingest worker's storage gauges in ``system_metrics`` (``ingest.metrics``), per ``table`` label.
STORAGE_METRICS = ("hypertable_bytes", "hypertable_chunks")


def sampled_sizes(latest: pd.DataFrame) -> pd.DataFrame:
    """Per hypertable its newest storage sample from ``latest`` (``db.queries.latest_metrics``): ``table_name``,
    ``total_bytes`` (bytes), ``chunks`` (count; NaN where only the size was sampled) and ``time`` (UTC, of the
    size), sorted by name; empty when ingest has sampled none. (A loop over the ~14 sampled rows: a pivot of them
    cost the System page's draw ~7 ms.)"""
    rows = latest[latest["metric"].isin(STORAGE_METRICS)]
    tables: dict[str, dict[str, tuple]] = {}
    for metric, labels, value, time in zip(rows["metric"], rows["labels"], rows["value"], rows["time"], strict=True):
        tables.setdefault(labels.get("table"), {})[metric] = (value, time)
    sized = sorted(((name, sample) for name, sample in tables.items() if name and "hypertable_bytes" in sample),
                   key=lambda item: item[0])  # fmt: skip
    return pd.DataFrame({
        "table_name": [name for name, _ in sized],
        "total_bytes": [sample["hypertable_bytes"][0] for _, sample in sized],
        "chunks": [sample.get("hypertable_chunks", (float("nan"),))[0] for _, sample in sized],
        "time": pd.to_datetime([sample["hypertable_bytes"][1] for _, sample in sized], utc=True),
    })  # fmt: skip
