"""Open-interest writes (table ``open_interest``): idempotent upsert of a batch of rows."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.schema import open_interest
from db.writes.common import WriteResult, copy_binary, insert_sql, quote, run
from db.writes.extents import record_open_interest_extents
from db.writes.summaries import OPEN_INTEREST_NEWEST_SQL

OPEN_INTEREST_COLUMNS = ("time", "exchange", "symbol", "source", "open_interest_contracts", "open_interest_base",
                         "open_interest_value")
OPEN_INTEREST_KEY = ("exchange", "symbol", "source", "time")
#: Binary COPY types (:mod:`db.pgcopy`) of :data:`OPEN_INTEREST_COLUMNS`.
OPEN_INTEREST_TYPES = dict(zip(OPEN_INTEREST_COLUMNS, ("timestamptz", "text", "text", "text", "float8", "float8",
                                                       "float8"), strict=True))
_VALUES = OPEN_INTEREST_COLUMNS[4:]
_UPDATE = (
    "DO UPDATE SET " + ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, open_interest.{c})" for c in _VALUES)
    + ", received_at = now() WHERE (" + ", ".join(f"open_interest.{c}" for c in _VALUES)
    + ") IS DISTINCT FROM (" + ", ".join(f"COALESCE(EXCLUDED.{c}, open_interest.{c})" for c in _VALUES) + ")"
)


def write_open_interest(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write open-interest rows (``frame`` with :data:`OPEN_INTEREST_COLUMNS`; ``time`` UTC, contracts in the
    venue's contract unit, base in base-asset units, value in quote currency). Binary COPY into a temporary
    staging table, then one ``INSERT … ON CONFLICT ON CONSTRAINT pk_open_interest``: a stored key is updated only
    when a value differs, a known value is never replaced by NULL, duplicates inside the batch are removed first;
    replaying a batch writes 0 rows. The ``open_interest`` extents of ``pair_extents`` widen and
    ``open_interest_newest`` (:mod:`db.summaries`) takes a newer notional in the same transaction. Returns rows
    inserted or changed. Raises SQLAlchemy/psycopg errors (batch not written)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        stage = "stage_open_interest"
        cols = ", ".join(quote(c) for c in OPEN_INTEREST_COLUMNS)
        conn.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS SELECT {cols} "
                          f"FROM {open_interest.name} WITH NO DATA"))
        conn.execute(text(f"TRUNCATE {stage}"))
        copy_binary(conn, stage, OPEN_INTEREST_TYPES, frame)
        sql = insert_sql(open_interest.name, stage, OPEN_INTEREST_COLUMNS, _UPDATE, distinct_on=OPEN_INTEREST_KEY)
        written = conn.execute(text(f"WITH ins AS ({sql} RETURNING exchange, symbol, time, open_interest_value), "
                                    f"newest AS ({OPEN_INTEREST_NEWEST_SQL}) SELECT count(*) FROM ins")).scalar_one()
        record_open_interest_extents(conn, frame)
        return WriteResult(written, len(frame))

    return run(bind, work)
