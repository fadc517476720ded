"""Funding-rate writes (upsert) and the funding rollups of the hours they touch."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.schema import FUNDING_ROLLUPS, funding_rates
from db.summaries import HORIZON_SQL
from db.writes.common import FUNDING_COLUMNS, FUNDING_KEY, WriteResult, insert_sql, run, sql_interval, stage_frame
from db.writes.extents import funding_extents_sql
from db.writes.rollups import LOCK_SHARED_SQL, close_funding_rollups, funding_rollup_insert
from db.writes.summaries import (
    FUNDING_NEWEST_SQL,
    GROUPS_SQL,
    SETTLED_RECOMPUTE_SQL,
    appended_rollups_sql,
)

_FUNDING_UPDATE = """DO UPDATE SET
  funding_rate = EXCLUDED.funding_rate,
  funding_interval_hours = COALESCE(EXCLUDED.funding_interval_hours, funding_rates.funding_interval_hours),
  mark_price = COALESCE(EXCLUDED.mark_price, funding_rates.mark_price),
  index_price = COALESCE(EXCLUDED.index_price, funding_rates.index_price),
  next_funding_time = COALESCE(EXCLUDED.next_funding_time, funding_rates.next_funding_time),
  received_at = now()
WHERE (funding_rates.funding_rate, funding_rates.funding_interval_hours, funding_rates.mark_price,
       funding_rates.index_price, funding_rates.next_funding_time)
  IS DISTINCT FROM (EXCLUDED.funding_rate,
       COALESCE(EXCLUDED.funding_interval_hours, funding_rates.funding_interval_hours),
       COALESCE(EXCLUDED.mark_price, funding_rates.mark_price),
       COALESCE(EXCLUDED.index_price, funding_rates.index_price),
       COALESCE(EXCLUDED.next_funding_time, funding_rates.next_funding_time))"""


#: Unit of ``touched_funding_hours``: every :data:`~db.schema.FUNDING_ROLLUPS` width divides it, so a touched
#: hour holds whole buckets of each rollup table.
_FUNDING_ROLLUP_SPAN = pd.Timedelta(max(FUNDING_ROLLUPS))
_DAY = pd.Timedelta(days=1)
#: The temporary table of the hours to recompute, made (empty) with the staging table in one round trip; emptied at
#: commit and kept for the session's next write, like the staging table.
_TOUCHED_TABLE = ("CREATE TEMP TABLE IF NOT EXISTS touched_funding_hours (exchange text, symbol text, settled boolean, "
                  "hour timestamptz) ON COMMIT DELETE ROWS; DELETE FROM touched_funding_hours")


#: Every :data:`~db.schema.FUNDING_ROLLUPS` table's rows of the hours listed in ``touched_funding_hours``,
#: recomputed from one read of their stored ``funding_rates`` rows (``:lo``/``:hi`` bound it: plan-time chunk
#: exclusion); the result is the number of rollup rows inserted or changed over all tables. The hour is matched by
#: equality on ``time_bucket`` (a hash join over one range scan), not by a time range per touched hour: that
#: probed every chunk once per hour and took 450 s for the bundled year of the hourly venues (116k rows), 6 s this way.
_FUNDING_ROLLUP_SQL = f"""
WITH touched AS MATERIALIZED (
    SELECT f.time, f.exchange, f.symbol, f.settled, f.funding_rate, f.funding_interval_hours, f.mark_price,
           f.index_price
    FROM funding_rates f
    JOIN touched_funding_hours h ON f.exchange = h.exchange AND f.symbol = h.symbol AND f.settled = h.settled
     AND h.hour = time_bucket({sql_interval(_FUNDING_ROLLUP_SPAN)}, f.time)
    WHERE f.time >= :lo AND f.time < :hi),
""" + ",\n".join(f"up_{t.name} AS ({funding_rollup_insert(w, t)})" for w, t in FUNDING_ROLLUPS.items()) + """
SELECT """ + " + ".join(f"(SELECT count(*) FROM up_{t.name})" for t in FUNDING_ROLLUPS.values())


def _funding_rollups(conn: Connection, frame: pd.DataFrame, settled: bool) -> int:
    """Upsert the :data:`~db.schema.FUNDING_ROLLUPS` rows of the hours in ``touched_funding_hours`` (see
    :data:`_FUNDING_ROLLUP_SQL`), and the settled rollups of their days when ``settled`` hours are among them;
    ``frame``'s time range bounds the rows read. Returns rollup rows written."""
    times = pd.to_datetime(frame["time"], utc=True)
    bounds = {"lo": times.min().floor(_FUNDING_ROLLUP_SPAN).to_pydatetime(),
              "hi": (times.max().floor(_FUNDING_ROLLUP_SPAN) + _FUNDING_ROLLUP_SPAN).to_pydatetime()}
    conn.execute(text("ANALYZE touched_funding_hours"))  # temp tables have no statistics otherwise
    written = conn.execute(text(_FUNDING_ROLLUP_SQL), bounds).scalar_one()
    if settled:
        days = {"lo": times.min().floor(_DAY).to_pydatetime(), "hi": (times.max().floor(_DAY) + _DAY).to_pydatetime()}
        written += conn.execute(text(SETTLED_RECOMPUTE_SQL), days).scalar_one()
    return written


_RETURNED = ("exchange", "symbol", "settled", "time", "funding_rate", "funding_interval_hours", "mark_price",
             "index_price", "next_funding_time")


def _upsert_sql(stage: str) -> str:
    """The batch's upsert with the summary upkeep (:mod:`db.writes.summaries`) in one statement: returns rows
    inserted or changed, rollup rows written from appended rows, hours left for recompute (and how many of them
    settled), and whether a close is due (a predicted row of an hour after the rollup horizon, :mod:`.rollups`).
    Predicted rows at or after the horizon (``deferred``) leave the rollups to the close."""
    sql = insert_sql(funding_rates.name, stage, FUNDING_COLUMNS, _FUNDING_UPDATE, distinct_on=FUNDING_KEY)
    appended = appended_rollups_sql()
    ctes = [f"ins AS ({sql} RETURNING {', '.join(_RETURNED)}, xmax = 0 AS inserted)",
            f"grp AS MATERIALIZED ({GROUPS_SQL})",
            "app AS MATERIALIZED (SELECT * FROM grp WHERE appended AND NOT deferred)",
            "t AS (INSERT INTO touched_funding_hours SELECT DISTINCT exchange, symbol, settled, hour FROM grp "
            "WHERE NOT appended AND NOT deferred RETURNING settled)",
            f"newest AS ({FUNDING_NEWEST_SQL})", f"ext AS ({funding_extents_sql(stage)})",
            *(f"{name} AS ({insert})" for name, insert in appended)]
    counts = " + ".join(f"(SELECT count(*) FROM {name})" for name, _ in appended)
    return (f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM ins), {counts}, (SELECT count(*) FROM t), "
            "(SELECT count(*) FILTER (WHERE settled) FROM t), "
            f"COALESCE((SELECT bool_or(hour > {HORIZON_SQL}) FROM grp WHERE deferred), false)")


def write_funding(bind: Engine | Connection, frame: pd.DataFrame, close: bool = True) -> WriteResult:
    """Write funding rows (``FUNDING_COLUMNS``). An existing key is updated only when a value differs (a
    settled row gaining its mark price, a corrected rate); known values are never replaced by NULL.

    Then the rollups (:data:`~db.schema.FUNDING_ROLLUPS` and the settled rollups of :mod:`db.summaries`; bucket
    start = ``time_bucket(width, time)``, UTC) of every exchange + symbol + settled + hour that received an
    inserted or changed row are brought up to date in the same transaction: from the batch alone for rows
    appended after the pair's newest stored row, else recomputed from the stored rows (:mod:`db.writes.summaries`,
    :data:`_FUNDING_ROLLUP_SQL`); ``funding_newest`` keeps each pair's newest row. Except: predicted rows at or
    after the rollup horizon (:mod:`db.writes.rollups`) leave ``FUNDING_ROLLUPS`` to the close of their hour, which
    runs after this write (``close``, the default; in a transaction of its own when ``bind`` is an engine) once the
    batch holds a predicted row of a newer hour (``closable`` of the result). Replaying a batch writes 0 rows and 0
    rollups. ``rollups`` of the result counts rollup rows inserted or changed, over all rollup tables and the close.
    Raises SQLAlchemy/psycopg errors (batch not written; a failing close leaves the committed batch)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        stage = stage_frame(conn, funding_rates.name, FUNDING_COLUMNS, frame, f"{_TOUCHED_TABLE}; {LOCK_SHARED_SQL}")
        written, rollups, touched, settled, due = conn.execute(text(_upsert_sql(stage))).one()
        if touched:
            rollups += _funding_rollups(conn, frame, settled > 0)
        return WriteResult(int(written), len(frame), int(rollups), closable=bool(due))

    result = run(bind, work)
    if close and result.closable:
        result = replace(result, rollups=result.rollups + close_funding_rollups(bind), closable=False)
    return result
