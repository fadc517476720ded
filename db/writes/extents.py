"""The ``pair_extents`` catalogue (:data:`db.schema.pair_extents`): which exchange + symbol pairs hold rows of each
stream, from when to when; kept exact by every write of ``db.writes`` and by retention.

Invariant (tested in ``tests/test_pair_extents.py``): for each pair and stream, ``first_time``/``last_time`` equal
``min(time)``/``max(time)`` of its rows: ``funding_rates`` (all rows, settled and predicted) for ``funding``,
``prices`` of price kind ``last`` (every timeframe, rollups included) for ``ohlcv``, ``open_interest`` (all
sources) for ``open_interest``; a ``funding`` row's
``funding_interval_hours``/``interval_time`` are those of the pair's newest settled row that states an interval
(hours; NULL when none does). Writes only insert or update
rows, so the catalogue widens with ``LEAST``/``GREATEST`` in the write's transaction; what removes rows (retention's
``drop_chunks``) calls :func:`refresh_extents` afterwards.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, text

_NEWER = "EXCLUDED.interval_time >= COALESCE(pair_extents.interval_time, '-infinity')"
_INSERT = ("INSERT INTO pair_extents (exchange, symbol, stream, first_time, last_time, funding_interval_hours, "
           "interval_time)")
_ON_CONFLICT = f"""ON CONFLICT ON CONSTRAINT pk_pair_extents DO UPDATE SET
    first_time = LEAST(pair_extents.first_time, EXCLUDED.first_time),
    last_time = GREATEST(pair_extents.last_time, EXCLUDED.last_time),
    funding_interval_hours = CASE WHEN {_NEWER} THEN EXCLUDED.funding_interval_hours
                                  ELSE pair_extents.funding_interval_hours END,
    interval_time = CASE WHEN {_NEWER} THEN EXCLUDED.interval_time ELSE pair_extents.interval_time END
WHERE EXCLUDED.first_time < pair_extents.first_time OR EXCLUDED.last_time > pair_extents.last_time
   OR ({_NEWER} AND (EXCLUDED.funding_interval_hours, EXCLUDED.interval_time)
                    IS DISTINCT FROM (pair_extents.funding_interval_hours, pair_extents.interval_time))"""
_UPSERT_SQL = f"""{_INSERT}
SELECT * FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[]), CAST(:streams AS text[]),
                     CAST(:firsts AS timestamptz[]), CAST(:lasts AS timestamptz[]), CAST(:hours AS float8[]),
                     CAST(:interval_times AS timestamptz[]))
{_ON_CONFLICT}"""
_STATED = "FILTER (WHERE settled AND funding_interval_hours IS NOT NULL)"


def funding_extents_sql(source: str) -> str:
    """SQL widening the ``funding`` extents to the rows of the table or CTE ``source`` (``FUNDING_COLUMNS``) and
    taking the interval of its newest settled row stating one when newer, for a statement of the write (one
    grouped read of the staged batch, no round trip)."""
    return f"""{_INSERT}
SELECT exchange, symbol, 'funding', min(time), max(time), last(funding_interval_hours, time) {_STATED},
       max(time) {_STATED}
FROM {source} GROUP BY exchange, symbol
{_ON_CONFLICT}"""

#: Stream → (table, filter of the rows it covers).
_SOURCES = {"funding": ("funding_rates", "true"), "ohlcv": ("prices", "price_kind = 'last'"),
            "open_interest": ("open_interest", "true")}
#: The newest settled funding row that states its interval, per pair (``rebuild_extents``).
_NEWEST_INTERVAL_SQL = """SELECT DISTINCT ON (exchange, symbol) exchange, symbol, funding_interval_hours, time
FROM funding_rates WHERE settled AND funding_interval_hours IS NOT NULL ORDER BY exchange, symbol, time DESC"""


def _pydatetimes(values) -> list:
    return [None if pd.isna(t) else t.to_pydatetime() for t in values]


def _upsert(conn: Connection, stream: str, firsts: pd.Series, lasts: pd.Series,
            intervals: pd.DataFrame | None = None) -> None:
    """Widen the extents of ``stream`` to the per-pair times (Series indexed by (exchange, symbol), UTC) and take
    ``intervals`` (``hours``, ``time`` by the same index: the newest settled row stating an interval) when newer."""
    if firsts.empty:
        return
    keys = list(firsts.index)
    newest = (intervals if intervals is not None else pd.DataFrame(columns=["hours", "time"])).reindex(keys)
    conn.execute(text(_UPSERT_SQL), {
        "exchanges": [k[0] for k in keys], "symbols": [k[1] for k in keys], "streams": [stream] * len(keys),
        "firsts": _pydatetimes(firsts), "lasts": _pydatetimes(lasts.loc[keys]),
        "hours": [None if pd.isna(h) else float(h) for h in newest["hours"]],
        "interval_times": _pydatetimes(pd.to_datetime(newest["time"], utc=True)),
    })  # fmt: skip


def record_candle_extents(conn: Connection, frame: pd.DataFrame, widest: pd.Timedelta) -> None:
    """Widen the ``ohlcv`` extents to the last-price candles of ``frame`` (``CANDLE_COLUMNS``) and to the rollup
    candles their 1-minute rows produce (``time`` = bucket start; ``widest`` = the widest rollup's width, whose
    bucket starts first), in ``conn``'s transaction. Raises SQLAlchemy errors."""
    last = frame[frame["price_kind"] == "last"]
    if last.empty:
        return
    times = pd.to_datetime(last["time"], utc=True)
    starts = times.where(last["timeframe"] != "1m", times.dt.floor(widest))  # a 1-minute row's widest rollup
    keys = [last["exchange"], last["symbol"]]
    _upsert(conn, "ohlcv", starts.groupby(keys).min(), times.groupby(keys).max())


def record_open_interest_extents(conn: Connection, frame: pd.DataFrame) -> None:
    """Widen the ``open_interest`` extents to the rows of ``frame`` (``OPEN_INTEREST_COLUMNS``; ``time`` UTC), in
    ``conn``'s transaction. Raises SQLAlchemy errors."""
    times = pd.to_datetime(frame["time"], utc=True)
    groups = times.groupby([frame["exchange"], frame["symbol"]])
    _upsert(conn, "open_interest", groups.min(), groups.max())


def refresh_extents(conn: Connection, table: str) -> int:
    """Recompute the extents of the stream stored in ``table`` (``funding_rates``, ``prices`` or
    ``open_interest``) after rows were removed (retention): ``first_time`` by one ordered index probe per pair,
    pairs left without rows deleted. Returns the catalogue rows changed. Raises ``KeyError`` for another table,
    SQLAlchemy errors."""
    stream = {t: s for s, (t, _) in _SOURCES.items()}[table]
    where = _SOURCES[stream][1]
    probe = (
        f"SELECT time FROM {table} WHERE exchange = x.exchange AND symbol = x.symbol AND {where} "
        "ORDER BY time {} LIMIT 1"
    )
    changed = conn.execute(
        text(f"""
        UPDATE pair_extents e SET first_time = f.first_time, last_time = f.last_time
        FROM (SELECT x.exchange, x.symbol, ({probe.format("ASC")}) AS first_time,
                     ({probe.format("DESC")}) AS last_time
              FROM pair_extents x WHERE x.stream = :stream) AS f(exchange, symbol, first_time, last_time)
        WHERE e.stream = :stream AND e.exchange = f.exchange AND e.symbol = f.symbol AND f.first_time IS NOT NULL
          AND (e.first_time, e.last_time) IS DISTINCT FROM (f.first_time, f.last_time)"""),
        {"stream": stream},
    ).rowcount
    gone = conn.execute(text(f"""
        DELETE FROM pair_extents e WHERE e.stream = :stream
          AND NOT EXISTS (SELECT 1 FROM {table} WHERE exchange = e.exchange AND symbol = e.symbol AND {where})"""),
                        {"stream": stream}).rowcount  # fmt: skip
    return int(changed) + int(gone)


def rebuild_extents(conn: Connection) -> int:
    """Recompute the whole catalogue from the tables (one grouped scan of each: seconds on a year of data), for
    rows written or deleted around ``db.writes`` (plain SQL, manual repairs). Returns the catalogue rows written.
    Raises SQLAlchemy errors."""
    conn.execute(text("DELETE FROM pair_extents"))
    written = 0
    for stream, (table, where) in _SOURCES.items():
        funding = stream == "funding"
        interval = "i.funding_interval_hours, i.time" if funding else "NULL::float8, NULL::timestamptz"
        join = f"LEFT JOIN ({_NEWEST_INTERVAL_SQL}) i USING (exchange, symbol)" if funding else ""
        written += conn.execute(text(
            f"INSERT INTO pair_extents SELECT g.exchange, g.symbol, '{stream}', g.first_time, g.last_time, "
            f"{interval} FROM (SELECT exchange, symbol, min(time) AS first_time, max(time) AS last_time "
            f"FROM {table} WHERE {where} GROUP BY exchange, symbol) g {join}")).rowcount
    return written
