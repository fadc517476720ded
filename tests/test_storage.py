"""The System page's storage table (``db.storage.hypertable_sizes``) against TimescaleDB's own figures, on a real
TimescaleDB holding the bundled funding history (many chunks) and empty hypertables."""

from __future__ import annotations

from sqlalchemy import text

from db.storage import hypertable_sizes
from db.writes import write_funding
from ingest.recorded import read_funding


def test_sizes_equal_timescaledbs_hypertable_size_and_chunk_counts(clean_db):
    write_funding(clean_db, read_funding().head(3000))
    with clean_db.connect() as conn:
        ours = hypertable_sizes(conn).set_index("table_name")
        theirs = conn.execute(text(
            "SELECT hypertable_name, hypertable_size(format('%I.%I', hypertable_schema, hypertable_name)::regclass), "
            "num_chunks FROM timescaledb_information.hypertables")).all()  # fmt: skip
    assert sorted(ours.index) == sorted(name for name, _, _ in theirs)
    for name, size, chunks in theirs:
        assert (ours.loc[name, "total_bytes"], ours.loc[name, "chunks"]) == (size, chunks), name
    assert ours.loc["funding_rates", "chunks"] > 1  # the history spans several chunks
    assert ours.loc["system_metrics", "chunks"] == 0 and ours.loc["system_metrics", "total_bytes"] > 0
