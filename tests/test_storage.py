"""db.storage: the System page's hypertable sizes equal TimescaleDB's own functions."""

from __future__ import annotations

from sqlalchemy import text

from db.storage import hypertable_sizes

_TIMESCALE_SQL = """
SELECT h.hypertable_name AS table_name,
       hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) AS total_bytes,
       h.num_chunks AS chunks
FROM timescaledb_information.hypertables h
ORDER BY h.hypertable_name
"""


def test_sizes_equal_hypertable_size(recorded_engine):
    """One catalogue query gives every hypertable's ``hypertable_size()`` and chunk count, byte for byte."""
    with recorded_engine.connect() as conn:
        got = hypertable_sizes(conn)
        want = [tuple(row) for row in conn.execute(text(_TIMESCALE_SQL))]
    assert len(want) >= 6 and any(chunks > 1 for _, _, chunks in want)
    assert [tuple(row) for row in got.itertuples(index=False)] == want
    assert list(got.dtypes.astype(str)[["total_bytes", "chunks"]]) == ["int64", "int64"]
