"""Shared machinery of the idempotent writes: column lists, binary COPY, staging, upsert SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.pgcopy import encode_parts
from db.schema import funding_rates, prices, system_metrics

CANDLE_COLUMNS = ("time", "exchange", "symbol", "timeframe", "price_kind", "open", "high", "low", "close",
                  "volume", "quote_volume")
FUNDING_COLUMNS = ("time", "exchange", "symbol", "settled", "funding_rate", "funding_interval_hours",
                   "mark_price", "index_price", "next_funding_time")
ANOMALY_COLUMNS = ("time", "exchange", "symbol", "metric", "method", "value", "centre", "spread", "z_score",
                   "threshold", "window", "metadata")
METRIC_COLUMNS = ("time", "metric", "value", "unit", "labels")

#: Binary COPY types (:mod:`db.pgcopy`) of the candle and anomaly columns.
CANDLE_TYPES = dict(zip(CANDLE_COLUMNS, ("timestamptz", "text", "text", "text", "text", "float8", "float8",
                                          "float8", "float8", "float8", "float8"), strict=True))
ANOMALY_TYPES = dict(zip(ANOMALY_COLUMNS, ("timestamptz", "text", "text", "text", "text", "float8", "float8",
                                            "float8", "float8", "float8", "int4", "jsonb"), strict=True))
FUNDING_KEY = ("exchange", "symbol", "settled", "time")
FUNDING_TYPES = dict(zip(FUNDING_COLUMNS, ("timestamptz", "text", "text", "bool", "float8", "float8", "float8",
                                            "float8", "timestamptz"), strict=True))
METRIC_TYPES = dict(zip(METRIC_COLUMNS, ("timestamptz", "text", "float8", "text", "jsonb"), strict=True))
#: Binary COPY types of each target's columns, for :func:`stage_frame`.
STAGE_TYPES = {prices.name: CANDLE_TYPES, funding_rates.name: FUNDING_TYPES, system_metrics.name: METRIC_TYPES}


@dataclass(frozen=True)
class WriteResult:
    """``written``: rows inserted or changed in the target; ``received``: rows in the batch;
    ``rollups``: rollup rows inserted or updated (candles: :data:`ROLLUP_TIMEFRAMES` candles, e.g. 4 × 15m + 1 × 1h
    per touched hour; funding: :data:`~db.schema.FUNDING_ROLLUPS` rows, e.g. 4 × 15m + 1 × 1h per touched hour);
    ``closable``: funding only, a close of the predicted rows' rollups is due and was not run
    (``db.writes.rollups``)."""

    written: int
    received: int
    rollups: int = 0
    closable: bool = False


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (names here are the schema's own, never user input)."""
    return f'"{name}"'


def copy_binary(conn: Connection, table: str, types: dict[str, str], frame: pd.DataFrame) -> None:
    """Binary ``COPY`` of ``frame[list(types)]`` into ``table`` (buffers encoded by :mod:`db.pgcopy` with numpy,
    no per-row Python; the server parses no text)."""
    cols = ", ".join(quote(c) for c in types)
    with conn.connection.driver_connection.cursor() as cur, cur.copy(
        f"COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        for part in encode_parts(frame, types):  # the server parses a group while the next is encoded
            copy.write(part)


def upsert_binary(conn: Connection, target: str, types: dict[str, str], frame: pd.DataFrame,
                  on_conflict: str) -> int:
    """Binary COPY of ``frame`` into a temporary staging table with ``types``' columns of ``target``, then one
    ``INSERT … SELECT … ON CONFLICT ON CONSTRAINT pk_<target> <on_conflict>``; returns rows inserted/changed."""
    stage = f"stage_bin_{target}"
    cols = ", ".join(quote(c) for c in types)
    conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} "
                      "WITH NO DATA"))
    conn.execute(text(f"TRUNCATE {stage}"))  # several batches may share one outer transaction
    copy_binary(conn, stage, types, frame)
    return conn.execute(text(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
                             f"ON CONFLICT ON CONSTRAINT pk_{target} {on_conflict}")).rowcount


def stage_frame(conn: Connection, target: str, columns: tuple[str, ...], frame: pd.DataFrame,
                also: str = "") -> str:
    """A temporary staging table with ``columns`` of ``target`` (same column types), loaded with ``frame`` by
    binary COPY (types from :data:`STAGE_TYPES`); emptied at commit and kept for the session's next write (no
    catalogue rows created and dropped per write: ingest writes every minute; hence ingest is stopped while a
    migration changes ``target``'s columns, README "Upgrading"). ``also``: more SQL statements (no
    parameters) sent in the same round trip before the COPY. Returns its name."""
    stage = f"stage_{target}"
    cols = ", ".join(quote(c) for c in columns)
    # several batches may share one outer transaction: DELETE (TRUNCATE would give the table a new file, a
    # catalogue update, every write; a table emptied at commit has no pages to scan)
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} "
                         f"FROM {target} WITH NO DATA; DELETE FROM {stage}" + (f"; {also}" if also else ""))
    copy_binary(conn, stage, {c: STAGE_TYPES[target][c] for c in columns}, frame)
    return stage


def insert_sql(target: str, stage: str, columns: tuple[str, ...], on_conflict: str,
               distinct_on: tuple[str, ...] | None = None) -> str:
    """``INSERT INTO target (columns) SELECT … FROM stage ON CONFLICT ON CONSTRAINT pk_<target> <on_conflict>``;
    with ``distinct_on`` one row per key of the staged batch (its duplicates removed in SQL)."""
    cols = ", ".join(quote(c) for c in columns)
    select = f"SELECT {cols} FROM {stage}"
    if distinct_on:
        key = ", ".join(quote(c) for c in distinct_on)
        select = f"SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}"
    return f"INSERT INTO {target} ({cols}) {select} ON CONFLICT ON CONSTRAINT pk_{target} {on_conflict}"


def run(bind: Engine | Connection, work) -> WriteResult:
    """``work(conn)`` on ``bind`` itself when it is a connection (the caller's transaction), else in a new
    transaction of the engine ``bind`` (committed when ``work`` returns, rolled back when it raises)."""
    if isinstance(bind, Connection):
        return work(bind)
    with bind.begin() as conn:
        return work(conn)


def sql_interval(width: timedelta) -> str:
    """``width`` as an SQL interval literal (``'3600 seconds'``)."""
    return f"'{int(width.total_seconds())} seconds'"

