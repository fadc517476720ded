"""The System page's storage table: ``db.storage.hypertable_sizes`` against TimescaleDB's own figures, and the
sample the ingest worker writes of them as the page reads it back, on a real TimescaleDB holding the bundled funding
history (many chunks) and empty hypertables."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import text

from db import queries
from db.storage import hypertable_sizes, sampled_sizes
from db.writes import write_funding, write_metrics
from ingest.metrics import Metrics, hypertable_storage
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


def test_the_ingest_workers_storage_sample_is_what_the_system_page_reads(clean_db, ingest_engine):
    write_funding(clean_db, read_funding().head(3000))
    with clean_db.connect() as conn:
        assert sampled_sizes(queries.latest_metrics(conn)).empty  # nothing sampled yet: the page says so
    measured = hypertable_storage(ingest_engine)  # as the ingest role, as the worker's storage loop does
    metrics = Metrics()
    metrics.set_storage(measured)
    sampled_at = datetime.now(UTC).replace(microsecond=0)
    write_metrics(ingest_engine, metrics.sample(sampled_at))
    with clean_db.connect() as conn:
        shown = sampled_sizes(queries.latest_metrics(conn)).set_index("table_name")
    assert sorted(shown.index) == sorted(measured["table_name"])
    for row in measured.itertuples(index=False):
        assert (shown.loc[row.table_name, "total_bytes"], shown.loc[row.table_name, "chunks"]) == (
            row.total_bytes, row.chunks), row.table_name  # fmt: skip
        assert shown.loc[row.table_name, "time"] == sampled_at
    assert shown.loc["funding_rates", "chunks"] > 1
    sizes_only = Metrics()  # a worker that sampled sizes before chunk counts were sampled
    sizes_only.set("hypertable_bytes", 8192, table="an_old_table")
    write_metrics(ingest_engine, sizes_only.sample(sampled_at))
    with clean_db.connect() as conn:
        shown = sampled_sizes(queries.latest_metrics(conn))
    assert list(shown["table_name"]) == sorted(shown["table_name"])
    old = shown[shown["table_name"] == "an_old_table"].iloc[0]
    assert old["total_bytes"] == 8192 and pd.isna(old["chunks"]) and old["time"] == sampled_at
