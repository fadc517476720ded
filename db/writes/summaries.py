"""Upkeep of the summary tables of :mod:`db.summaries` inside the writes' transactions, and after retention.

:func:`write_funding` (``db.writes.funding``) splits the rows its upsert inserted or changed by exchange + symbol +
settled flag + UTC hour:

* **appended** groups: every row newly inserted and newer than the pair's newest stored row of that kind (read
  from ``funding_newest`` before the statement): the live minute's snapshot, the next settlement. The rollup
  rows of their buckets are updated from the batch alone (:func:`appended_rollups_sql`: counts and sums added,
  means re-weighted, the last row's values taken), no stored row read;
* **deferred** rows: predicted rows at or after the rollup horizon (the live minutes): their 15-minute and hourly
  rollup rows are written when their hour closes (:mod:`db.writes.rollups`);
* the other groups (backfill into stored hours, a corrected rate, a price gained later) go to
  ``touched_funding_hours`` and are recomputed from the stored rows (``db.writes.funding`` and
  :data:`SETTLED_RECOMPUTE_SQL`).

``funding_newest`` takes each key's newest row of the batch when it is at least as new as the stored one
(:data:`FUNDING_NEWEST_SQL`); ``open_interest_newest`` likewise (:data:`OPEN_INTEREST_NEWEST_SQL`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Table, text

from db.schema import FUNDING_ROLLUPS
from db.summaries import HORIZON_SQL, PREMIUM_SQL, SETTLED_ROLLUPS, funding_settled_1d
from db.writes.common import sql_interval

HOURS_PER_YEAR_SQL = "8760.0"
_NEWEST_VALUES = ("funding_rate", "funding_interval_hours", "mark_price", "index_price", "next_funding_time")

#: ``funding_newest`` upsert of the rows of CTE ``ins`` (the stored values, as the upsert returned them).
FUNDING_NEWEST_SQL = f"""INSERT INTO funding_newest (exchange, symbol, settled, time, {", ".join(_NEWEST_VALUES)})
SELECT DISTINCT ON (exchange, symbol, settled) exchange, symbol, settled, time, {", ".join(_NEWEST_VALUES)}
FROM ins ORDER BY exchange, symbol, settled, time DESC
ON CONFLICT ON CONSTRAINT pk_funding_newest DO UPDATE SET time = EXCLUDED.time,
  {", ".join(f"{c} = EXCLUDED.{c}" for c in _NEWEST_VALUES)}
WHERE EXCLUDED.time > funding_newest.time OR (EXCLUDED.time = funding_newest.time
  AND ({", ".join(f"funding_newest.{c}" for c in _NEWEST_VALUES)})
      IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _NEWEST_VALUES)}))
RETURNING 1"""

#: ``open_interest_newest`` upsert of the rows of CTE ``ins`` that carry a notional.
OPEN_INTEREST_NEWEST_SQL = """INSERT INTO open_interest_newest (exchange, symbol, time, open_interest_value)
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, open_interest_value
FROM ins WHERE open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC
ON CONFLICT ON CONSTRAINT pk_open_interest_newest DO UPDATE SET time = EXCLUDED.time,
  open_interest_value = EXCLUDED.open_interest_value
WHERE EXCLUDED.time > open_interest_newest.time OR (EXCLUDED.time = open_interest_newest.time
  AND EXCLUDED.open_interest_value <> open_interest_newest.open_interest_value)
RETURNING 1"""

_HOUR = sql_interval(timedelta(hours=1))

#: The rows of CTE ``ins``, each with ``hour`` (its UTC hour), ``deferred`` (a predicted row at or after the rollup
#: horizon, ``db.writes.rollups``: no rollup upkeep now) and ``appended`` (module docstring) of its exchange + symbol +
#: settled + hour group: every row of the group inserted and newer than the newest stored row before this statement
#: (``funding_newest``; a statement's CTEs all see the same snapshot). One probe of ``funding_newest`` per row that is
#: not deferred (the subquery is evaluated only then; a group is wholly deferred or not, the horizon being an hour
#: start) and one sort (a window over the group), no second join of the rows to their groups.
GROUPS_SQL = f"""SELECT i.*, time_bucket({_HOUR}, i.time) AS hour, d.deferred,
       bool_and(d.deferred OR (i.inserted AND i.time > COALESCE(
           (SELECT p.time FROM funding_newest p
            WHERE p.exchange = i.exchange AND p.symbol = i.symbol AND p.settled = i.settled), '-infinity')))
         OVER (PARTITION BY i.exchange, i.symbol, i.settled, time_bucket({_HOUR}, i.time)) AS appended
FROM ins i CROSS JOIN (SELECT {HORIZON_SQL} AS until) h
CROSS JOIN LATERAL (SELECT NOT i.settled AND i.time >= h.until AS deferred) d"""

_FUNDING_ROLLUP_LAST = ("funding_rate_last", "funding_interval_hours", "mark_price", "index_price")


def _funding_rollup_append(width: timedelta, table: Table) -> str:
    """Rows of CTE ``app`` added to the :data:`~db.schema.FUNDING_ROLLUPS` table ``table``: rows summed, the means
    (rate; premium of the rows with both prices, :data:`~db.summaries.PREMIUM_SQL`) re-weighted by their row counts,
    the last row's values those of the batch (newer than every stored row)."""
    t = table.name
    return f"""INSERT INTO {t} (time, exchange, symbol, settled, funding_rate, {", ".join(_FUNDING_ROLLUP_LAST)}, rows,
                premium, premium_rows)
SELECT time_bucket({sql_interval(width)}, time), exchange, symbol, settled, avg(funding_rate),
       last(funding_rate, time), last(funding_interval_hours, time), last(mark_price, time), last(index_price, time),
       count(*), avg({PREMIUM_SQL}), count({PREMIUM_SQL})
FROM app GROUP BY 1, exchange, symbol, settled
ON CONFLICT ON CONSTRAINT pk_{t} DO UPDATE SET
  funding_rate = ({t}.funding_rate * {t}.rows + EXCLUDED.funding_rate * EXCLUDED.rows) / ({t}.rows + EXCLUDED.rows),
  {", ".join(f"{c} = EXCLUDED.{c}" for c in _FUNDING_ROLLUP_LAST)}, rows = {t}.rows + EXCLUDED.rows,
  premium = CASE WHEN {t}.premium_rows + EXCLUDED.premium_rows > 0 THEN
    (COALESCE({t}.premium * {t}.premium_rows, 0) + COALESCE(EXCLUDED.premium * EXCLUDED.premium_rows, 0))
    / ({t}.premium_rows + EXCLUDED.premium_rows) END,
  premium_rows = {t}.premium_rows + EXCLUDED.premium_rows, updated_at = now()
RETURNING 1"""


_SETTLED_VALUES = ("settlements", "rate_sum", "annualised_sum", "annualised_rows", "first_time", "last_time",
                   "last_interval_hours")


def _settled_aggregate(width: timedelta, source: str) -> str:
    """``SELECT`` of the settled rollup rows of ``width`` over the settled rows of ``source``."""
    return f"""SELECT time_bucket({sql_interval(width)}, time), exchange, symbol, count(*), sum(funding_rate),
       COALESCE(sum(funding_rate * {HOURS_PER_YEAR_SQL} / funding_interval_hours), 0), count(funding_interval_hours),
       min(time), max(time), last(funding_interval_hours, time)
FROM {source} WHERE settled GROUP BY 1, exchange, symbol"""


def _settled_append(width: timedelta, table: Table) -> str:
    """Settled rows of CTE ``app`` added to the settled rollup ``table``: counts and sums added, the last
    settlement's time and interval taken."""
    t = table.name
    added = ", ".join(f"{c} = {t}.{c} + EXCLUDED.{c}" for c in _SETTLED_VALUES[:4])
    return f"""INSERT INTO {t} (time, exchange, symbol, {", ".join(_SETTLED_VALUES)})
{_settled_aggregate(width, "app")}
ON CONFLICT ON CONSTRAINT pk_{t} DO UPDATE SET {added}, last_time = EXCLUDED.last_time,
  last_interval_hours = EXCLUDED.last_interval_hours
RETURNING 1"""


def _settled_recompute(width: timedelta, table: Table) -> str:
    """The settled rollup ``table`` rows of the stored settled rows in CTE ``rows``, written when different."""
    t = table.name
    return f"""INSERT INTO {t} (time, exchange, symbol, {", ".join(_SETTLED_VALUES)})
{_settled_aggregate(width, "rows")}
ON CONFLICT ON CONSTRAINT pk_{t} DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _SETTLED_VALUES)}
WHERE ({", ".join(f"{t}.{c}" for c in _SETTLED_VALUES)})
  IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _SETTLED_VALUES)})
RETURNING 1"""


def appended_rollups_sql() -> list[tuple[str, str]]:
    """``(cte name, INSERT)`` of every rollup updated from CTE ``app`` (appended rows)."""
    out = [(f"app_{t.name}", _funding_rollup_append(w, t)) for w, t in FUNDING_ROLLUPS.items()]
    return out + [(f"app_{t.name}", _settled_append(w, t)) for w, t in SETTLED_ROLLUPS.items()]


_DAY = sql_interval(timedelta(days=1))
#: The settled rollups of every exchange + symbol + day holding a settled hour of ``touched_funding_hours``,
#: recomputed from one read of its stored settled rows (``:lo``/``:hi``: day-aligned bounds of the batch);
#: returns rollup rows inserted or changed.
SETTLED_RECOMPUTE_SQL = f"""
WITH days AS (SELECT DISTINCT exchange, symbol, time_bucket({_DAY}, hour) AS day FROM touched_funding_hours
              WHERE settled),
rows AS MATERIALIZED (
    SELECT f.time, f.exchange, f.symbol, f.settled, f.funding_rate, f.funding_interval_hours FROM funding_rates f
    JOIN days d ON f.exchange = d.exchange AND f.symbol = d.symbol AND d.day = time_bucket({_DAY}, f.time)
    WHERE f.settled AND f.time >= :lo AND f.time < :hi),
""" + ",\n".join(f"re_{t.name} AS ({_settled_recompute(w, t)})" for w, t in SETTLED_ROLLUPS.items()) + """
SELECT """ + " + ".join(f"(SELECT count(*) FROM re_{t.name})" for t in SETTLED_ROLLUPS.values())

_WIDEST = max(SETTLED_ROLLUPS)
assert SETTLED_ROLLUPS[_WIDEST] is funding_settled_1d and all(_WIDEST % w == timedelta(0) for w in SETTLED_ROLLUPS)


def refresh_summaries(conn: Connection, table: str) -> int:
    """After rows of ``table`` (``funding_rates`` or ``open_interest``) were removed from the old end of each
    pair's history (retention's ``drop_chunks``): newest rows that are gone are replaced by the pair's newest
    remaining one (one primary-key probe) or deleted; settled rollup periods wholly before a pair's first
    remaining settlement are deleted and the day holding it recomputed when it lost rows. Returns summary rows
    changed. Raises ``KeyError`` for another table, SQLAlchemy errors."""
    if table == "open_interest":
        return _refresh_newest(conn, _OI_NEWEST_GONE, _OI_NEWEST_REFRESH)
    if table != "funding_rates":
        raise KeyError(table)
    changed = _refresh_newest(conn, _FUNDING_NEWEST_GONE, _FUNDING_NEWEST_REFRESH)
    for width, rollup in SETTLED_ROLLUPS.items():
        changed += conn.execute(text(_SETTLED_PRUNE.format(t=rollup.name, w=sql_interval(width)))).rowcount
    firsts = conn.execute(text(_FIRST_SETTLED)).all()
    if firsts:
        conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS touched_funding_hours (exchange text, symbol text, "
                          "settled boolean, hour timestamptz) ON COMMIT DROP"))
        conn.execute(text("TRUNCATE touched_funding_hours"))
        conn.execute(text("INSERT INTO touched_funding_hours SELECT e, s, true, h FROM unnest(CAST(:e AS text[]), "
                          "CAST(:s AS text[]), CAST(:h AS timestamptz[])) AS x(e, s, h)"),
                     {"e": [r[0] for r in firsts], "s": [r[1] for r in firsts], "h": [r[2] for r in firsts]})
        lo = min(r[2] for r in firsts) - _WIDEST
        hi = max(r[2] for r in firsts) + _WIDEST
        changed += conn.execute(text(SETTLED_RECOMPUTE_SQL), {"lo": lo, "hi": hi}).scalar_one()
    return int(changed)


def _refresh_newest(conn: Connection, gone: str, refresh: str) -> int:
    return conn.execute(text(gone)).rowcount + conn.execute(text(refresh)).rowcount


_SAME_FUNDING = "f.exchange = n.exchange AND f.symbol = n.symbol AND f.settled = n.settled"
_FUNDING_NEWEST_GONE = ("DELETE FROM funding_newest n WHERE NOT EXISTS "
                        f"(SELECT 1 FROM funding_rates f WHERE {_SAME_FUNDING})")
_FUNDING_NEWEST_REFRESH = f"""UPDATE funding_newest n SET (time, {", ".join(_NEWEST_VALUES)}) = (
    SELECT time, {", ".join(_NEWEST_VALUES)} FROM funding_rates f WHERE {_SAME_FUNDING} ORDER BY f.time DESC LIMIT 1)
WHERE NOT EXISTS (SELECT 1 FROM funding_rates f WHERE {_SAME_FUNDING} AND f.time = n.time)"""
_SAME_OI = "o.exchange = n.exchange AND o.symbol = n.symbol AND o.open_interest_value IS NOT NULL"
_OI_NEWEST_GONE = ("DELETE FROM open_interest_newest n WHERE NOT EXISTS "
                   f"(SELECT 1 FROM open_interest o WHERE {_SAME_OI})")
_OI_NEWEST_REFRESH = f"""UPDATE open_interest_newest n SET (time, open_interest_value) = (
    SELECT time, open_interest_value FROM open_interest o WHERE {_SAME_OI} ORDER BY o.time DESC LIMIT 1)
WHERE NOT EXISTS (SELECT 1 FROM open_interest o WHERE {_SAME_OI} AND o.time = n.time)"""
#: Settled rollup periods wholly before their pair's first remaining settlement (or of a pair without any).
_SETTLED_PRUNE = """DELETE FROM {t} r USING (
    SELECT x.exchange, x.symbol, (SELECT time FROM funding_rates f WHERE f.exchange = x.exchange
        AND f.symbol = x.symbol AND f.settled ORDER BY f.time LIMIT 1) AS first_time
    FROM (SELECT DISTINCT exchange, symbol FROM {t}) x) p
WHERE r.exchange = p.exchange AND r.symbol = p.symbol AND (p.first_time IS NULL OR r.time + {w} <= p.first_time)"""
#: The hour of each pair's first remaining settlement when its day row counts an older (removed) one.
_FIRST_SETTLED = f"""SELECT exchange, symbol, time_bucket({_HOUR}, first_time) FROM (
    SELECT x.exchange, x.symbol, min(x.first_time) AS stored_first,
           (SELECT time FROM funding_rates f WHERE f.exchange = x.exchange AND f.symbol = x.symbol AND f.settled
            ORDER BY f.time LIMIT 1) AS first_time
    FROM funding_settled_1d x GROUP BY x.exchange, x.symbol) p
WHERE first_time IS NOT NULL AND stored_first < first_time"""


_REBUILD = (
    f"""INSERT INTO funding_newest (exchange, symbol, settled, time, {", ".join(_NEWEST_VALUES)})
SELECT e.exchange, e.symbol, k.settled, r.time, {", ".join(f"r.{c}" for c in _NEWEST_VALUES)}
FROM pair_extents e CROSS JOIN (VALUES (false), (true)) AS k(settled)
CROSS JOIN LATERAL (SELECT * FROM funding_rates f WHERE f.exchange = e.exchange AND f.symbol = e.symbol
                    AND f.settled = k.settled ORDER BY f.time DESC LIMIT 1) r
WHERE e.stream = 'funding'""",
    """INSERT INTO open_interest_newest (exchange, symbol, time, open_interest_value)
SELECT DISTINCT ON (exchange, symbol) exchange, symbol, time, open_interest_value FROM open_interest
WHERE open_interest_value IS NOT NULL ORDER BY exchange, symbol, time DESC""",
    *(f"""INSERT INTO {t.name} (time, exchange, symbol, {", ".join(_SETTLED_VALUES)})
{_settled_aggregate(w, "funding_rates")}""" for w, t in SETTLED_ROLLUPS.items()),
)


def rebuild_summaries(conn: Connection) -> int:
    """Recompute every summary table from the raw rows (after rows were written or removed around ``db.writes``:
    plain SQL, manual repairs); run after :func:`db.writes.extents.rebuild_extents` (the newest funding rows are
    found through the catalogue). Returns the rows written. Raises SQLAlchemy errors."""
    conn.execute(text("DELETE FROM funding_newest; DELETE FROM open_interest_newest; "
                      + " ".join(f"DELETE FROM {t.name};" for t in SETTLED_ROLLUPS.values())))
    return sum(conn.execute(text(sql)).rowcount for sql in _REBUILD)
