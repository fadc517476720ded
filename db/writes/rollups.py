"""The 15-minute and hourly funding rollups (:data:`~db.schema.FUNDING_ROLLUPS`) of predicted (live) rows, written
when their hour closes.

The live worker writes one predicted row per pair and minute; updating both rollup rows of every pair each minute
was about half of that write's cost. So ``write_funding`` (``db.writes.funding``) leaves the rollups of predicted
rows at or after the **horizon** (``funding_rollup_horizon.predicted_until``, a UTC hour start; no row =
``-infinity``) alone, and :func:`close_funding_rollups`, run once a newer hour has begun (the first write of each
hour, in a transaction of its own), writes the rollup rows of the predicted rows in ``[horizon, the newest predicted
row's hour)`` from the stored rows and moves the horizon there.

Invariant (``tests/test_rollups.py``): the rollup rows of predicted rows before the horizon equal the aggregate of
the raw rows (settled rows: of all of them), and no predicted rollup row lies at or after it; the reads
(``db.queries.funding``, ``db.queries.fingerprint``) take raw rows from the horizon on, so what they return does not
depend on when a close ran. Writers and a close are serialised by an advisory lock (:data:`LOCK_KEY`): the minute
write holds it shared from before its statement's snapshot to its commit, the close exclusively, so no predicted row
can commit into an hour a close has just read.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine, Table, text

from db.schema import FUNDING_ROLLUPS
from db.summaries import HORIZON_SQL, PREMIUM_SQL
from db.writes.common import run, sql_interval

#: Key of the transaction-level advisory lock between funding writes (shared) and a close (exclusive).
LOCK_KEY = 0x41505231
#: SQL taking the writes' shared lock (sent before the write's statement, so its snapshot comes after the lock).
LOCK_SHARED_SQL = f"SELECT pg_advisory_xact_lock_shared({LOCK_KEY})"
#: Width of a close: every rollup width divides it, so a closed hour holds whole buckets of each rollup table.
CLOSE_SPAN = max(FUNDING_ROLLUPS)
assert all(CLOSE_SPAN % w == timedelta(0) for w in FUNDING_ROLLUPS)

FUNDING_ROLLUP_VALUES = ("funding_rate", "funding_rate_last", "funding_interval_hours", "mark_price", "index_price",
                         "rows", "premium", "premium_rows")


def funding_rollup_insert(width: timedelta, table: Table) -> str:
    """``INSERT`` into ``table`` of the buckets of ``width`` of the rows in CTE ``touched``: mean rate, the last row's
    rate / interval / mark / index (TimescaleDB ``last``), row count, mean premium of the rows with both prices and
    their count (:data:`~db.summaries.PREMIUM_SQL`); a stored row is rewritten only when a value changed, so
    ``RETURNING`` yields rollup rows inserted or changed."""
    t = table.name
    return f"""INSERT INTO {t} (time, exchange, symbol, settled, {", ".join(FUNDING_ROLLUP_VALUES)})
SELECT time_bucket({sql_interval(width)}, time), exchange, symbol, settled, avg(funding_rate),
       last(funding_rate, time), last(funding_interval_hours, time), last(mark_price, time),
       last(index_price, time), count(*), avg({PREMIUM_SQL}), count({PREMIUM_SQL})
FROM touched GROUP BY 1, exchange, symbol, settled
ON CONFLICT ON CONSTRAINT pk_{t} DO UPDATE SET
  {", ".join(f"{c} = EXCLUDED.{c}" for c in FUNDING_ROLLUP_VALUES)}, updated_at = now()
WHERE ({", ".join(f"{t}.{c}" for c in FUNDING_ROLLUP_VALUES)})
  IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in FUNDING_ROLLUP_VALUES)})
RETURNING 1"""


#: The horizon (NULL for ``-infinity``) and the close's end: the hour of the newest predicted row.
_BOUNDS_SQL = f"""SELECT CASE WHEN isfinite(h) THEN h END, c, c > h FROM (
    SELECT {HORIZON_SQL} AS h,
           (SELECT time_bucket({sql_interval(CLOSE_SPAN)}, max(time)) FROM funding_newest WHERE NOT settled) AS c) x"""

#: Rollup rows of the predicted rows in ``[:lo, :hi)`` (``:lo`` NULL: from the first), then the horizon moved to
#: ``:hi``; returns the rollup rows inserted or changed. The rows are read by one primary-key range scan per pair
#: whose newest predicted row (``funding_newest``) is at or after ``:lo`` (``funding_rates`` has no index on time
#: alone: a scan of the hour over every pair took ~0.5 s).
_CLOSE_SQL = """
WITH touched AS MATERIALIZED (
    SELECT f.time, f.exchange, f.symbol, f.settled, f.funding_rate, f.funding_interval_hours, f.mark_price,
           f.index_price
    FROM funding_newest n
    CROSS JOIN LATERAL (
        SELECT * FROM funding_rates r
        WHERE r.exchange = n.exchange AND r.symbol = n.symbol AND NOT r.settled
          AND r.time >= COALESCE(CAST(:lo AS timestamptz), '-infinity') AND r.time < :hi) f
    WHERE NOT n.settled AND n.time >= COALESCE(CAST(:lo AS timestamptz), '-infinity')),
""" + ",\n".join(f"up_{t.name} AS ({funding_rollup_insert(w, t)})" for w, t in FUNDING_ROLLUPS.items()) + """,
moved AS (INSERT INTO funding_rollup_horizon (id, predicted_until) VALUES (true, :hi)
          ON CONFLICT ON CONSTRAINT pk_funding_rollup_horizon DO UPDATE SET predicted_until = EXCLUDED.predicted_until)
SELECT """ + " + ".join(f"(SELECT count(*) FROM up_{t.name})" for t in FUNDING_ROLLUPS.values())


def close_funding_rollups(bind: Engine | Connection) -> int:
    """Write the rollup rows of the predicted rows of every closed hour not yet rolled up (module docstring): those
    in ``[horizon, hour of the newest predicted row)``, then move the horizon there; nothing when no newer hour has
    begun. In ``bind``'s transaction when it is a connection, else in a transaction of its own. Returns the rollup
    rows inserted or changed. Raises SQLAlchemy/psycopg errors (nothing written)."""

    def work(conn: Connection) -> int:
        conn.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))  # then a new snapshot: every write committed
        lo, hi, due = conn.execute(text(_BOUNDS_SQL)).one()
        if not due:
            return 0
        return int(conn.execute(text(_CLOSE_SQL), {"lo": lo, "hi": hi}).scalar_one())

    return run(bind, work)
