"""Read side of the database: SELECTs that return pandas DataFrames with documented columns and units.

Used by the Flask API and the Dash pages; nothing here writes. Conventions of every function:

* ``conn`` is an open SQLAlchemy ``Connection`` (the caller owns the transaction);
* times passed in must be timezone-aware (``ValueError`` otherwise); time columns come back as
  ``datetime64[…, UTC]``; ``start`` is inclusive, ``end`` exclusive;
* ``exchanges`` are ccxt ids, ``symbols`` canonical ccxt unified symbols (``BTC/USDT:USDT``, see
  :mod:`db.symbols`); ``None`` means every one that has data;
* chart series are bucketed **in the database** with TimescaleDB's ``time_bucket`` (bucket start = the
  row's ``time``); the bucket width comes from :data:`BUCKET_WIDTHS` so one trace holds at most ~1,500
  points (:func:`choose_bucket`); empty buckets produce no row (a gap, never an invented value);
* funding rates are fractions per funding interval, prices are in the quote currency (USDT).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Table, and_, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import DBAPIError

from db.health import Status, feed_status, overall_status
from db.schema import FUNDING_ROLLUPS, anomalies, funding_rates, prices, system_metrics
from settings import get_settings

#: Bucket widths charts may use, finest first (ccxt timeframe notation -> width).
BUCKET_WIDTHS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "1w": timedelta(days=7),
}

#: Candle timeframes the ``prices`` table may hold, finest first (ingest writes 1m and upserts 15m and 1h rollups,
#: ``db.writes.ROLLUP_TIMEFRAMES``; bundled history may add others).
CANDLE_TIMEFRAMES: dict[str, timedelta] = {k: v for k, v in BUCKET_WIDTHS.items() if k != "1w"}

#: Default largest number of points in one trace.
MAX_POINTS = 1500

#: Stream names of :func:`feed_health` and :func:`list_symbols` (``funding``: funding_rates rows;
#: ``ohlcv``: 1-minute last-price candles).
STREAMS = ("funding", "ohlcv")


def _require_aware(**times: datetime | None) -> None:
    for name, value in times.items():
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"{name} must be timezone-aware (UTC), got {value!r}")


def _check_range(start: datetime, end: datetime) -> None:
    _require_aware(start=start, end=end)
    if start >= end:
        raise ValueError(f"start {start.isoformat()} must be before end {end.isoformat()}")


def _frame(result, time_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A DataFrame of a SQLAlchemy result; ``time_columns`` converted to UTC datetimes (empty-safe)."""
    # Plain ``str`` names: SQLAlchemy's keys are ``quoted_name`` (a str subclass) that pandas' python-backed string
    # index keeps as is, and orjson refuses a str subclass as a dict key (app.api.json_records).
    keys = list(map(str, result.keys()))
    rows = result.fetchall()
    # Column-wise construction: ~7x faster than pd.DataFrame(rows) on SQLAlchemy Row objects.
    columns = zip(*rows, strict=True) if rows else ([] for _ in keys)
    frame = pd.DataFrame({key: list(values) for key, values in zip(keys, columns, strict=True)}, columns=keys)
    for col in time_columns:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _fetch(conn: Connection, stmt, time_columns: Sequence[str] = ()) -> pd.DataFrame:
    """:func:`_frame` of a Core ``stmt`` fetched in psycopg's **binary** result format (timestamps and doubles as
    raw bytes, not text to parse): 30-60 % less client time for the thousands of rows of a chart series
    (measured on 5,000 anomaly rows and 7,200 one-minute candles). The statement runs on the connection's own
    DBAPI connection, inside its transaction; a driver error is raised as SQLAlchemy's ``DBAPIError`` subclass
    (``OperationalError`` when the database is unreachable), as ``conn.execute`` would. (JIT is off for every
    session of :func:`db.engine.make_engine`: see there.)"""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.cursor(binary=True) as cur:
            cur.execute(compiled.string, compiled.params)
            keys = [column.name for column in cur.description]
            rows = cur.fetchall()
    except dbapi.Error as exc:
        raise DBAPIError.instance(compiled.string, compiled.params, exc, dbapi.Error) from exc
    columns = zip(*rows, strict=True) if rows else ([] for _ in keys)
    frame = pd.DataFrame({key: list(values) for key, values in zip(keys, columns, strict=True)}, columns=keys)
    for col in time_columns:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def choose_bucket(start: datetime, end: datetime, max_points: int = MAX_POINTS) -> timedelta:
    """The finest width of :data:`BUCKET_WIDTHS` that splits ``[start, end)`` into at most ``max_points`` buckets.

    E.g. 1 h -> 1 min (60 points), 24 h -> 1 min (1,440), 7 d -> 15 min (672), 30 d -> 1 h (720).
    Raises ``ValueError`` for naive times, ``start >= end``, ``max_points < 1`` or a range longer than
    ``max_points`` weeks.
    """
    _check_range(start, end)
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    span = end - start
    for width in BUCKET_WIDTHS.values():
        if span / width <= max_points:
            return width
    raise ValueError(f"range {span} needs more than {max_points} buckets even at 1 week")


def bucket_name(width: timedelta) -> str:
    """The :data:`BUCKET_WIDTHS` key of ``width`` (``timedelta(hours=1)`` -> ``"1h"``).

    Raises ``KeyError`` when ``width`` is not whitelisted.
    """
    for name, value in BUCKET_WIDTHS.items():
        if value == width:
            return name
    raise KeyError(f"bucket width {width} is not one of {', '.join(BUCKET_WIDTHS)}")


#: ``time_bucket``'s default origin (a Monday): buckets are ``origin + k × width``.
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


def align_range(start: datetime, end: datetime, width: timedelta) -> tuple[datetime, datetime]:
    """``[start, end)`` widened to whole buckets of ``width`` (start floored, end ceiled on ``time_bucket``'s grid),
    so every bucket a series returns is complete and reads the same whether from 1-minute rows or 1-hour rollups."""
    lo = BUCKET_ORIGIN + ((start - BUCKET_ORIGIN) // width) * width
    hi = BUCKET_ORIGIN + -((BUCKET_ORIGIN - end) // width) * width
    return lo, hi


def _resolve_bucket(start: datetime, end: datetime, bucket: timedelta | None) -> timedelta:
    if bucket is None:
        return choose_bucket(start, end)
    bucket_name(bucket)  # whitelist check
    return bucket


def _filters(table, exchanges: Sequence[str] | None, symbols: Sequence[str] | None) -> list:
    clauses = []
    if exchanges is not None:
        clauses.append(table.c.exchange.in_(list(exchanges)))
    if symbols is not None:
        clauses.append(table.c.symbol.in_(list(symbols)))
    return clauses


# --- symbols and extent -----------------------------------------------------------------------------------------

_PAIRS_SQL = """
WITH RECURSIVE {name} AS (
    (SELECT exchange, symbol FROM {table} ORDER BY exchange, symbol LIMIT 1)
    UNION ALL
    SELECT n.exchange, n.symbol FROM {name} p CROSS JOIN LATERAL (
        SELECT exchange, symbol FROM {table} WHERE (exchange, symbol) > (p.exchange, p.symbol)
        ORDER BY exchange, symbol LIMIT 1) n
)"""

_TF_VALUES = ", ".join(
    f"('{name}', interval '{int(width.total_seconds())} seconds')" for name, width in CANDLE_TIMEFRAMES.items()
)


def _edge_lateral(table: str, key: str, values: str, direction: str, alias: str) -> str:
    """A LATERAL giving the first/last ``time`` of a pair: one ordered ``LIMIT 1`` index probe per value of the
    primary-key column ``key`` that precedes ``time`` (so the hypertable's ordered chunk append stops early)."""
    return f"""
LEFT JOIN LATERAL (SELECT e.time FROM (VALUES {values}) AS k(v) CROSS JOIN LATERAL (
    SELECT time FROM {table} WHERE exchange = pairs.exchange AND symbol = pairs.symbol AND {key}
    ORDER BY time {direction} LIMIT 1) e ORDER BY e.time {direction} LIMIT 1) {alias} ON true"""


_PRICE_KEY = "timeframe = k.v AND price_kind = 'last'"
_PRICE_TFS = ", ".join(f"('{name}')" for name in CANDLE_TIMEFRAMES)

_EDGES_SQL = (
    """
SELECT pairs.exchange, pairs.symbol, fi.funding_interval_hours,
       ff.time AS funding_first, fl.time AS funding_last, pf.time AS prices_first, pl.time AS prices_last
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS pairs(exchange, symbol)
LEFT JOIN LATERAL (SELECT funding_interval_hours FROM funding_rates
    WHERE exchange = pairs.exchange AND symbol = pairs.symbol AND settled AND funding_interval_hours IS NOT NULL
    ORDER BY time DESC LIMIT 1) fi ON true"""
    + _edge_lateral("funding_rates", "settled = k.v", "(true), (false)", "ASC", "ff")
    + _edge_lateral("funding_rates", "settled = k.v", "(true), (false)", "DESC", "fl")
    + _edge_lateral("prices", _PRICE_KEY, _PRICE_TFS, "ASC", "pf")
    + _edge_lateral("prices", _PRICE_KEY, _PRICE_TFS, "DESC", "pl")
    + """
ORDER BY pairs.exchange, pairs.symbol
"""
)


_KNOWN_PAIRS_SQL = (
    _PAIRS_SQL.format(name="fpairs", table="funding_rates")
    + ","
    + _PAIRS_SQL.format(name="ppairs", table="prices").replace("WITH RECURSIVE", "")
    + "SELECT exchange, symbol FROM fpairs UNION SELECT exchange, symbol FROM ppairs ORDER BY exchange, symbol"
)


def known_pairs(conn: Connection) -> list[tuple[str, str]]:
    """Every ``(exchange, symbol)`` with rows in ``funding_rates`` or ``prices``, sorted; the cheap part of
    :func:`list_symbols` (a loose index scan only), used to validate request parameters."""
    return [(row.exchange, row.symbol) for row in conn.execute(text(_KNOWN_PAIRS_SQL))]


def _pair_params(pairs: Sequence[tuple[str, str]]) -> dict:
    return {"exchanges": [p[0] for p in pairs], "symbols": [p[1] for p in pairs]}


def _pair_edges(conn: Connection, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """First/last funding and price times (and newest interval) of each pair: one ordered ``LIMIT 1`` index probe
    per pair and primary-key prefix, so the cost grows with pairs, not rows."""
    times = ["funding_first", "funding_last", "prices_first", "prices_last"]
    return _frame(conn.execute(text(_EDGES_SQL), _pair_params(pairs)), times)


def list_symbols(conn: Connection, pairs: Sequence[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Every exchange + symbol with rows in ``funding_rates`` or ``prices`` (or only ``pairs``, e.g. a cached
    :func:`known_pairs`, which is the costly part: a loose index scan over every chunk).

    Columns: ``exchange`` (ccxt id), ``symbol`` (unified), ``display`` (``BTC/USDT``),
    ``funding_interval_hours`` (float hours of the newest settled row that states it; NaN when unknown),
    ``streams`` (tuple of :data:`STREAMS` names with data), ``first_time`` / ``last_time`` (UTC, over both
    tables; candle times are open times). Sorted by exchange, symbol.
    """
    raw = _pair_edges(conn, known_pairs(conn) if pairs is None else pairs)
    raw = raw[raw["funding_last"].notna() | raw["prices_last"].notna()]
    out = raw[["exchange", "symbol"]].copy()
    out["display"] = [s.split(":", 1)[0] for s in raw["symbol"]]
    out["funding_interval_hours"] = raw["funding_interval_hours"].astype("float64")
    out["streams"] = [
        tuple(name for name, present in (("funding", f), ("ohlcv", p)) if present)
        for f, p in zip(raw["funding_last"].notna(), raw["prices_last"].notna(), strict=True)
    ]
    out["first_time"] = raw[["funding_first", "prices_first"]].min(axis=1)
    out["last_time"] = raw[["funding_last", "prices_last"]].max(axis=1)
    return out.reset_index(drop=True)


def data_extent(
    conn: Connection,
    exchanges: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> tuple[datetime, datetime] | None:
    """``(first_time, last_time)`` (UTC) of all funding and price rows of the given exchanges/symbols, or ``None``
    when there are none. Used to offer "the newest period that has data" when a chosen range is empty.
    ``pairs`` (e.g. a cached :func:`known_pairs`) saves the loose index scan when a list is ``None``."""
    edges = _pair_edges(conn, _all_pairs(conn, exchanges, symbols, pairs))
    firsts = edges[["funding_first", "prices_first"]].min(axis=None)
    lasts = edges[["funding_last", "prices_last"]].max(axis=None)
    if pd.isna(firsts):
        return None
    return firsts.to_pydatetime(), lasts.to_pydatetime()


def _all_pairs(conn: Connection, exchanges, symbols, pairs=None) -> list[tuple[str, str]]:
    if exchanges is not None and symbols is not None:
        return [(e, s) for e in exchanges for s in symbols]
    pairs = known_pairs(conn) if pairs is None else pairs
    return [(e, s) for e, s in pairs if (exchanges is None or e in exchanges) and (symbols is None or s in symbols)]


# --- chart series -----------------------------------------------------------------------------------------------


def _funding_rollup_for(width: timedelta) -> tuple[timedelta, Table] | None:
    """``(rollup width, table)`` of the coarsest :data:`~db.schema.FUNDING_ROLLUPS` table whose width tiles bucket
    ``width`` (15 min -> ``funding_rates_15m``; 1 h, 4 h, 1 d, 1 w -> ``funding_rates_1h``); None for finer
    buckets (1 min, 5 min: raw rows)."""
    fits = [(w, t) for w, t in FUNDING_ROLLUPS.items() if w <= width and width % w == timedelta(0)]
    return max(fits, key=lambda fit: fit[0]) if fits else None


#: Raw funding rows bucketed per exchange + symbol + settled flag: one LATERAL ``GROUP BY`` per series over its
#: primary-key range (rows arrive in time order, so no sort of all rows: 7 days x 5 symbols of 1-minute snapshots
#: in 15-minute buckets took 27 ms instead of 59 ms as one ``GROUP BY``).
_FUNDING_RAW_SQL = """
SELECT b.time, p.exchange, p.symbol, s.settled, b.funding_rate, b.funding_interval_hours, b.rows
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN (VALUES (false), (true)) AS s(settled)
CROSS JOIN LATERAL (
    SELECT time_bucket(:width, f.time) AS time, avg(f.funding_rate) AS funding_rate,
           last(f.funding_interval_hours, f.time) AS funding_interval_hours, count(*) AS rows
    FROM funding_rates f
    WHERE f.exchange = p.exchange AND f.symbol = p.symbol AND f.settled = s.settled
      AND f.time >= :start AND f.time < :end
    GROUP BY 1 ORDER BY 1) b
ORDER BY p.exchange, p.symbol, s.settled, b.time
"""


def _funding_raw_stmt(pairs: Sequence[tuple[str, str]], start, end, width: timedelta):
    """Buckets of raw ``funding_rates`` rows (:data:`_FUNDING_RAW_SQL`) of ``pairs`` in ``[start, end)``."""
    return text(_FUNDING_RAW_SQL).bindparams(**_pair_params(pairs), width=width, start=start, end=end)


def _funding_rollup_stmt(table: Table, table_width: timedelta, pairs: list[tuple[str, str]], start, end,
                         width: timedelta):
    """Buckets of ``width`` from the funding rollup ``table`` (rows of ``table_width``, which tiles ``width``): mean
    = ``sum(mean × rows) / sum(rows)`` (the mean of the bucket's raw rows), interval of the last rollup row's last
    row, rows summed; when ``width == table_width`` the buckets are the stored rows."""
    r = table.c
    where = (tuple_(r.exchange, r.symbol).in_(pairs), r.time >= start, r.time < end)
    order = (r.exchange, r.symbol, r.settled)
    if width == table_width:
        columns = (r.time, r.exchange, r.symbol, r.settled, r.funding_rate, r.funding_interval_hours, r.rows)
        return select(*columns).where(*where).order_by(*order, r.time)
    tb = func.time_bucket(literal(width), r.time).label("time")
    return (
        select(
            tb,
            r.exchange,
            r.symbol,
            r.settled,
            (func.sum(r.funding_rate * r.rows) / func.sum(r.rows)).label("funding_rate"),
            func.last(r.funding_interval_hours, r.time).label("funding_interval_hours"),
            func.sum(r.rows).label("rows"),
        )
        .where(*where)
        .group_by(tb, *order)
        .order_by(*order, tb)
    )


def funding_series(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """Funding rates in the buckets overlapping ``[start, end)`` (:func:`align_range`), bucketed with ``time_bucket``.

    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``settled`` (bool: True = rates settled at
    funding times, False = current/predicted snapshots; kept apart, never averaged together),
    ``funding_rate`` (mean of the bucket's rows, fraction per funding interval), ``funding_interval_hours``
    (of the bucket's last row, TimescaleDB ``last()``; NaN if unknown), ``rows`` (rows in the bucket).
    Sorted by exchange, symbol, settled, time. ``bucket`` defaults to :func:`choose_bucket`; it must be one
    of :data:`BUCKET_WIDTHS` (``KeyError`` otherwise). Raises ``ValueError`` for a bad range.

    Source: 15-minute buckets are the rows of ``funding_rates_15m``, buckets of 1 hour and more are aggregated
    from ``funding_rates_1h`` (rollups ingest maintains, :data:`~db.schema.FUNDING_ROLLUPS`; same values as from
    the raw rows: a rollup row keeps its bucket's mean and row count); raw ``funding_rates`` rows are read for
    finer buckets and for pairs with no rollup row in the range.
    """
    _check_range(start, end)
    width = _resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    parts = []
    pairs = _all_pairs(conn, exchanges, symbols)
    rollup = _funding_rollup_for(width)
    if rollup and pairs:
        table_width, table = rollup
        part = _fetch(conn, _funding_rollup_stmt(table, table_width, pairs, start, end, width), ["time"])
        if not part.empty:
            parts.append(part)
            found = set(part[["exchange", "symbol"]].drop_duplicates().itertuples(index=False, name=None))
            pairs = [p for p in pairs if p not in found]
    if pairs or not parts:
        parts.append(_fetch(conn, _funding_raw_stmt(pairs, start, end, width), ["time"]))
    frame = parts[0] if len(parts) == 1 else pd.concat([p for p in parts if not p.empty] or parts[:1],
                                                       ignore_index=True)
    if len(parts) > 1:
        frame = frame.sort_values(["exchange", "symbol", "settled", "time"], ignore_index=True)
    for col in ("funding_rate", "funding_interval_hours"):
        frame[col] = frame[col].astype("float64")
    frame["rows"] = frame["rows"].astype("int64")
    return frame


def _source_timeframes(width: timedelta) -> list[str]:
    """Candle timeframes that tile ``width`` exactly, coarsest first (1h buckets read 1h rollups before 15m and 1m
    rows; 15m buckets read 15m rollups before 1m rows)."""
    return [name for name, tf in reversed(CANDLE_TIMEFRAMES.items()) if tf <= width and width % tf == timedelta(0)]


def _price_stmt(timeframe: str, pairs: list[tuple[str, str]], start, end, width: timedelta):
    """Last-price candles of ``timeframe`` of ``pairs`` in ``[start, end)`` as buckets of ``width``: the stored rows
    when one candle is one bucket, else :data:`_PRICE_BUCKETS_SQL`."""
    if CANDLE_TIMEFRAMES[timeframe] == width:  # one candle per bucket: the stored rows are the buckets
        t = prices.c
        columns = (t.time, t.exchange, t.symbol, t.open, t.high, t.low, t.close, t.volume)
        source = literal(timeframe).label("source_timeframe")
        where = (tuple_(t.exchange, t.symbol).in_(pairs), t.timeframe == timeframe, t.price_kind == "last",
                 t.time >= start, t.time < end)  # fmt: skip
        return select(*columns, source).where(*where).order_by(t.exchange, t.symbol, t.time)
    return text(_PRICE_BUCKETS_SQL).bindparams(**_pair_params(pairs), timeframe=timeframe, width=width, start=start,
                                               end=end)


#: Candles of one timeframe bucketed per exchange + symbol: one LATERAL ``GROUP BY`` per series over its
#: primary-key range (7 days x 5 symbols of 1-minute candles in 15-minute buckets: 40 ms instead of 58 ms as
#: one ``GROUP BY`` with a sort of all 50,000 rows).
_PRICE_BUCKETS_SQL = """
SELECT b.time, p.exchange, p.symbol, b.open, b.high, b.low, b.close, b.volume,
       CAST(:timeframe AS text) AS source_timeframe
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT time_bucket(:width, c.time) AS time, first(c.open, c.time) AS open, max(c.high) AS high,
           min(c.low) AS low, last(c.close, c.time) AS close, sum(c.volume) AS volume
    FROM prices c
    WHERE c.exchange = p.exchange AND c.symbol = p.symbol AND c.timeframe = :timeframe AND c.price_kind = 'last'
      AND c.time >= :start AND c.time < :end
    GROUP BY 1 ORDER BY 1) b
ORDER BY p.exchange, p.symbol, b.time
"""


def price_series(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    bucket: timedelta | None = None,
) -> pd.DataFrame:
    """OHLCV of last-price candles (by open time) in the buckets overlapping ``[start, end)`` (:func:`align_range`),
    bucketed with ``time_bucket``.

    Columns: ``time`` (bucket start, UTC), ``exchange``, ``symbol``, ``open`` (first open, TimescaleDB
    ``first()``), ``high`` (max), ``low`` (min), ``close`` (``last()`` close) in quote currency, ``volume``
    (sum, base-asset units), ``source_timeframe`` (candle timeframe read). Sorted by exchange, symbol, time.

    Source: for each exchange + symbol the coarsest stored timeframe that tiles the bucket, e.g. 1-hour rollups
    for buckets of whole hours, 15-minute rollups for 15-minute buckets (ingest maintains both), else 1-minute
    candles; finer timeframes are read only for pairs that have none of the coarser one in the range. Empty
    buckets yield no row (gaps stay gaps).
    Raises ``ValueError`` for a bad range, ``KeyError`` for a bucket outside :data:`BUCKET_WIDTHS`.
    """
    _check_range(start, end)
    width = _resolve_bucket(start, end, bucket)
    start, end = align_range(start, end, width)
    remaining = _all_pairs(conn, exchanges, symbols)
    parts = []
    for timeframe in _source_timeframes(width):
        if not remaining:
            break
        part = _fetch(conn, _price_stmt(timeframe, remaining, start, end, width), ["time"])
        if not part.empty:
            parts.append(part)
            found = set(part[["exchange", "symbol"]].drop_duplicates().itertuples(index=False, name=None))
            remaining = [p for p in remaining if p not in found]
    columns = ["time", "exchange", "symbol", "open", "high", "low", "close", "volume", "source_timeframe"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[us, UTC]" if c == "time" else object) for c in columns})
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = frame[col].astype("float64")
    if len(parts) > 1:
        frame = frame.sort_values(["exchange", "symbol", "time"], ignore_index=True)
    return frame[columns]


def anomaly_rows(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    metrics: Sequence[str] | None = None,
    min_abs_z: float = 0.0,
    limit: int | None = None,
    strongest: bool = False,
) -> pd.DataFrame:
    """Anomaly rows in ``[start, end)`` with ``|z_score| >= min_abs_z`` (not bucketed: they are few by design).

    Columns: ``time`` (UTC), ``exchange``, ``symbol``, ``metric``, ``method``, ``value``, ``centre``, ``spread``
    (metric's unit, see ``db.schema.anomalies``), ``z_score``, ``threshold`` (dimensionless), ``window``
    (observations). With ``limit`` only the newest ``limit`` rows, or with ``strongest`` the ``limit`` rows of
    largest ``|z_score|`` (chart markers; :func:`anomaly_counts` gives the totals). Sorted newest first.
    Raises ``ValueError`` for a bad range, negative ``min_abs_z`` or ``limit < 1``.
    """
    _check_range(start, end)
    if min_abs_z < 0:
        raise ValueError(f"min_abs_z must be >= 0, got {min_abs_z}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    t = anomalies.c
    clauses = [t.time >= start, t.time < end, *_filters(anomalies, exchanges, symbols)]
    if metrics is not None:
        clauses.append(t.metric.in_(list(metrics)))
    if min_abs_z > 0:
        clauses.append(func.abs(t.z_score) >= min_abs_z)
    newest_first = (t.time.desc(), t.exchange, t.symbol, t.metric, t.method)
    columns = (t.time, t.exchange, t.symbol, t.metric, t.method, t.value, t.centre, t.spread, t.z_score, t.threshold,
               t.window)
    order = (func.abs(t.z_score).desc(), *newest_first) if strongest else newest_first
    frame = _fetch(conn, select(*columns).where(and_(*clauses)).order_by(*order).limit(limit), ["time"])
    return frame.sort_values("time", ascending=False, kind="stable", ignore_index=True) if strongest else frame


def anomaly_counts(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Anomalies in ``[start, end)`` per exchange + symbol + metric, counted in the database (cards, tables and
    chart legends need the totals, not every row).

    Columns: ``exchange``, ``symbol``, ``metric``, ``anomalies`` (rows, int), ``max_abs_z`` (largest
    ``|z_score|``, dimensionless), ``newest`` (UTC time of the newest). Raises ``ValueError`` for a bad range.
    """
    _check_range(start, end)
    t = anomalies.c
    stmt = (
        select(t.exchange, t.symbol, t.metric, func.count().label("anomalies"),
               func.max(func.abs(t.z_score)).label("max_abs_z"), func.max(t.time).label("newest"))
        .where(t.time >= start, t.time < end, *_filters(anomalies, exchanges, symbols))
        .group_by(t.exchange, t.symbol, t.metric)
        .order_by(t.exchange, t.symbol, t.metric)
    )  # fmt: skip
    frame = _fetch(conn, stmt, ["newest"])
    return frame.astype({"anomalies": "int64", "max_abs_z": "float64"})


# --- latest values ----------------------------------------------------------------------------------------------


_SNAPSHOT_TEMPLATE = f"""
SELECT p.exchange, p.symbol,
       lp.time AS price_time, lp.close AS last_price, lp.timeframe AS price_timeframe, ago.close AS close_24h_ago,
       pr.time AS predicted_time, pr.funding_rate AS predicted_rate, pr.funding_interval_hours AS predicted_interval,
       pr.next_funding_time, pr.mark_price, pr.index_price,
       st.time AS settled_time, st.funding_rate AS settled_rate, st.funding_interval_hours AS settled_interval,
       an.time AS last_anomaly_time, an.z_score AS last_anomaly_z
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
LEFT JOIN LATERAL (
    SELECT c.time, c.close, tf.name AS timeframe
    FROM (VALUES {_TF_VALUES}) AS tf(name, width)
    CROSS JOIN LATERAL (SELECT time, close FROM prices
        WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = tf.name AND price_kind = 'last'
          AND time <= :now {{bound}} ORDER BY time DESC LIMIT 1) c
    ORDER BY c.time DESC, tf.width ASC LIMIT 1) lp ON true
LEFT JOIN LATERAL (SELECT close FROM prices
    WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = lp.timeframe AND price_kind = 'last'
      AND time <= lp.time - interval '24 hours' {{bound}} ORDER BY time DESC LIMIT 1) ago ON true
LEFT JOIN LATERAL (SELECT * FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled = false AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) pr ON true
LEFT JOIN LATERAL (SELECT * FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled = true AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) st ON true
LEFT JOIN LATERAL (SELECT time, z_score FROM anomalies
    WHERE exchange = p.exchange AND symbol = p.symbol AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) an ON true
ORDER BY p.exchange, p.symbol
"""
#: The snapshot looks back this far first: the constant bound lets the planner exclude all older chunks (planning a
#: LATERAL over a year of 1-day chunks costs ~50 ms; execution ~10 ms). Pairs with neither a price nor a funding
#: rate in that window are looked up again without the bound.
SNAPSHOT_LOOKBACK = timedelta(days=8)
_SNAPSHOT_BOUNDED = _SNAPSHOT_TEMPLATE.format(bound="AND time > :since")
_SNAPSHOT_ALL = _SNAPSHOT_TEMPLATE.format(bound="")

SNAPSHOT_COLUMNS = [
    "exchange", "symbol", "last_price", "price_time", "change_24h_pct", "funding_rate", "funding_settled",
    "funding_time", "funding_interval_hours", "next_funding_time", "mark_price", "index_price",
    "last_anomaly_time", "last_anomaly_z",
]  # fmt: skip


def _pick_funding(row: pd.Series) -> dict:
    """Predicted funding when it is at least as new as the last settlement, else the last settled rate."""
    use_predicted = pd.notna(row["predicted_time"]) and (
        pd.isna(row["settled_time"]) or row["predicted_time"] >= row["settled_time"]
    )
    if use_predicted:
        return {
            "funding_rate": row["predicted_rate"], "funding_settled": False, "funding_time": row["predicted_time"],
            "funding_interval_hours": row["predicted_interval"], "next_funding_time": row["next_funding_time"],
        }  # fmt: skip
    interval = row["settled_interval"]
    nxt = row["settled_time"] + pd.Timedelta(hours=interval) if pd.notna(interval) else pd.NaT
    return {
        "funding_rate": row["settled_rate"], "funding_settled": pd.notna(row["settled_time"]),
        "funding_time": row["settled_time"], "funding_interval_hours": interval, "next_funding_time": nxt,
    }  # fmt: skip


def latest_snapshot(
    conn: Connection, exchanges: Sequence[str] | None, symbols: Sequence[str] | None, now: datetime
) -> pd.DataFrame:
    """The newest values at or before ``now`` per exchange + symbol (one row per pair, also when it has no data).

    Columns: ``exchange``, ``symbol``; ``last_price`` (close of the last-price candle with the newest open time
    over the stored timeframes, the finest on a tie; quote currency) and its ``price_time`` (candle open, UTC);
    ``change_24h_pct`` (percent: ``(last_price / close 24 h earlier − 1) × 100``, same timeframe);
    ``funding_rate`` (fraction per interval: the newest predicted rate if it is not older than the newest
    settled one, else the newest settled rate), ``funding_settled`` (bool), ``funding_time`` (UTC),
    ``funding_interval_hours``; ``next_funding_time`` (UTC: the exchange's ``nextFundingTime`` for a
    predicted rate; for a settled rate, settlement time + interval, a derived value); ``mark_price``,
    ``index_price`` (of the predicted row, quote currency; NaN otherwise); ``last_anomaly_time`` and
    ``last_anomaly_z`` (newest anomaly of any metric). ``now`` is passed in so views of bundled history work.
    Values are looked up within :data:`SNAPSHOT_LOOKBACK` before ``now`` first (older ones only for pairs with
    no price and no funding rate in that window), so an anomaly older than that shows as none.

    Each value is one ``LATERAL … ORDER BY time DESC LIMIT 1`` index probe (``DISTINCT ON`` would scan
    everything: no skip scan in the Apache edition). Raises ``ValueError`` for a naive ``now``.
    """
    _require_aware(now=now)
    pairs = _all_pairs(conn, exchanges, symbols)
    times = ["price_time", "predicted_time", "next_funding_time", "settled_time", "last_anomaly_time"]
    params = {**_pair_params(pairs), "now": now, "since": now - SNAPSHOT_LOOKBACK}
    raw = _frame(conn.execute(text(_SNAPSHOT_BOUNDED), params), times)
    quiet = raw["price_time"].isna() & raw["predicted_time"].isna() & raw["settled_time"].isna()
    if quiet.any():
        again = list(zip(raw.loc[quiet, "exchange"], raw.loc[quiet, "symbol"], strict=True))
        rest = _frame(conn.execute(text(_SNAPSHOT_ALL), {**_pair_params(again), "now": now}), times)
        raw = pd.concat([raw[~quiet], rest]).sort_values(["exchange", "symbol"], ignore_index=True)
    if raw.empty:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    funding = pd.DataFrame([_pick_funding(row) for _, row in raw.iterrows()], index=raw.index)
    out = pd.concat([raw.drop(columns=["next_funding_time"]), funding], axis=1)
    last, ago = out["last_price"].astype("float64"), out["close_24h_ago"].astype("float64")
    out["change_24h_pct"] = (last / ago - 1.0) * 100.0
    out["last_price"] = last
    for col in ("funding_time", "next_funding_time"):
        out[col] = pd.to_datetime(out[col], utc=True)
    for col in ("funding_rate", "funding_interval_hours", "mark_price", "index_price", "last_anomaly_z"):
        out[col] = out[col].astype("float64")
    return out[SNAPSHOT_COLUMNS].reset_index(drop=True)


# --- system metrics and feed health -----------------------------------------------------------------------------


def latest_metrics(conn: Connection, window: timedelta = timedelta(minutes=5)) -> pd.DataFrame:
    """The newest value of every metric + label set written within ``window`` of the newest metric row.

    Columns: ``time`` (UTC), ``metric`` (name, see ``ingest.metrics``), ``value`` (float, in ``unit``),
    ``unit``, ``labels`` (dict, e.g. ``{"exchange": "bybit", "stream": "ohlcv"}``). Sorted by metric, labels.
    Empty when ingest has written no metrics.
    """
    newest = select(func.max(system_metrics.c.time)).scalar_subquery()
    t = system_metrics.c
    stmt = (
        select(t.time, t.metric, t.value, t.unit, t.labels)
        .where(t.time > newest - literal(window))
        .order_by(t.metric, t.labels, t.time.desc())
        .ext(distinct_on(t.metric, t.labels))
    )
    frame = _frame(conn.execute(stmt), ["time"])
    frame["value"] = frame["value"].astype("float64")
    return frame


def metric_series(
    conn: Connection, metric: str, start: datetime, end: datetime, bucket: timedelta | None = None, agg: str = "avg"
) -> pd.DataFrame:
    """One system metric over ``[start, end)`` bucketed with ``time_bucket``, one series per label set.

    Columns: ``time`` (bucket start, UTC), ``value`` (``agg`` of the bucket: ``avg``, ``max``, ``min``, ``sum``
    or ``last``; metric's unit), ``unit``, ``labels`` (dict), then one column per label key (e.g. ``exchange``,
    ``stream``; None where a series lacks it). Sorted by labels, time.
    Raises ``ValueError`` for a bad range or an unknown ``agg``; ``KeyError`` for a bucket outside the whitelist.
    """
    _check_range(start, end)
    width = _resolve_bucket(start, end, bucket)
    t = system_metrics.c
    aggregates = {
        "avg": func.avg(t.value), "max": func.max(t.value), "min": func.min(t.value),
        "sum": func.sum(t.value), "last": func.last(t.value, t.time),
    }  # fmt: skip
    if agg not in aggregates:
        raise ValueError(f"agg must be one of {', '.join(aggregates)}, got {agg!r}")
    tb = func.time_bucket(literal(width), t.time).label("time")
    stmt = (
        select(tb, aggregates[agg].label("value"), func.max(t.unit).label("unit"), t.labels)
        .where(t.metric == metric, t.time >= start, t.time < end)
        .group_by(tb, t.labels)
        .order_by(t.labels, tb)
    )
    frame = _frame(conn.execute(stmt), ["time"])
    frame["value"] = frame["value"].astype("float64")
    keys = sorted({k for labels in frame["labels"] for k in labels})
    for key in keys:
        frame[key] = [labels.get(key) for labels in frame["labels"]]
    return frame


@dataclass(frozen=True)
class FeedHealth:
    """Health of every feed (exchange + stream) at ``now``; rules in :mod:`db.health`.

    ``feeds`` columns: ``exchange``, ``stream`` (:data:`STREAMS`), ``newest_time`` (UTC time the newest data
    became available: funding row time; 1-minute candle open + 1 min; NaT when none), ``lag_seconds``
    (``now − newest_time``, NaN when none), ``cadence_seconds`` (expected seconds between rows), ``status``
    (``ok``/``degraded``/``down``). ``status`` is the overall :class:`~db.health.Status`.
    """

    now: datetime
    feeds: pd.DataFrame
    status: Status


_NEWEST_SQL = """
SELECT p.exchange, max(f.time) AS funding, max(c.time) + interval '1 minute' AS ohlcv
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
LEFT JOIN LATERAL (SELECT e.time FROM (VALUES (true), (false)) AS k(v) CROSS JOIN LATERAL (
    SELECT time FROM funding_rates WHERE exchange = p.exchange AND symbol = p.symbol AND settled = k.v
      AND time <= :now AND time > :since ORDER BY time DESC LIMIT 1) e ORDER BY e.time DESC LIMIT 1) f ON true
LEFT JOIN LATERAL (SELECT time FROM prices WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = '1m'
      AND price_kind = 'last' AND time <= :now AND time > :since ORDER BY time DESC LIMIT 1) c ON true
GROUP BY p.exchange
"""

#: Feed health first looks this far back (plan-time chunk exclusion keeps the probes to the newest chunks); only
#: exchanges with a stream silent for longer are probed again without the bound (they are down either way).
HEALTH_LOOKBACK = timedelta(hours=6)
#: Lower bound of the unbounded probe (any stored time is later).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def newest_times(conn: Connection, pairs: Sequence[tuple[str, str]], now: datetime,
                 since: datetime = EPOCH) -> dict[str, dict]:
    """``{exchange: {"funding": time | None, "ohlcv": time | None}}``: per exchange the newest funding row time and
    1-minute candle close time (open + 1 min), UTC, of ``pairs`` in ``(since, now]`` (one ``LIMIT 1`` index probe
    per pair and stream). Exchanges without a pair in ``pairs`` are absent."""
    params = {**_pair_params(pairs), "now": now, "since": since}
    return {row.exchange: {"funding": row.funding, "ohlcv": row.ohlcv}
            for row in conn.execute(text(_NEWEST_SQL), params)}


def _newest(conn: Connection, pairs: Sequence[tuple[str, str]], now: datetime,
            older: Callable[[list[tuple[str, str]]], dict[str, dict]] | None = None) -> dict[str, dict]:
    """:func:`newest_times` of ``pairs`` within :data:`HEALTH_LOOKBACK`; exchanges with a stream silent that long
    are probed again without the bound (``older(stale_pairs)``, e.g. a cached :func:`newest_times`), keeping the
    newer time per stream."""
    newest = newest_times(conn, pairs, now, now - HEALTH_LOOKBACK)
    stale = [p for p in pairs if None in newest.get(p[0], {None: None}).values()]
    if stale:
        for exchange, times in (older(stale) if older else newest_times(conn, stale, now)).items():
            recent = newest.setdefault(exchange, {})
            for stream, time_ in times.items():
                recent[stream] = max((t for t in (recent.get(stream), time_) if t is not None), default=None)
    return newest


def feed_health(
    conn: Connection,
    now: datetime,
    exchanges: Sequence[str] | None = None,
    cadences: dict[str, float] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    older: Callable[[list[tuple[str, str]]], dict[str, dict]] | None = None,
) -> FeedHealth:
    """Lag and status of each ``exchanges`` × ``cadences`` stream at ``now`` (aware UTC).

    ``exchanges`` default to the configured ``ALPHAPULSE_EXCHANGES``; ``cadences`` map a stream of
    :data:`STREAMS` to its expected cadence in seconds (default from settings: ``funding_poll_seconds``,
    ``ohlcv_poll_seconds``); ``pairs`` (e.g. a cached :func:`known_pairs`) saves the loose index scan. The newest
    row of an exchange is the newest of its symbols' ``LIMIT 1`` index probes, first within
    :data:`HEALTH_LOOKBACK`; ``older(stale_pairs)`` answers for exchanges silent that long (default: unbounded
    :func:`newest_times` probes, ~60-80 ms with a year of 1-day chunks; a cached copy is safe because any newer row
    is found by the bounded probe). Raises ``ValueError`` for a naive
    ``now`` or an unknown stream name.
    """
    _require_aware(now=now)
    settings = get_settings()
    exchanges = settings.exchanges if exchanges is None else exchanges
    if cadences is None:
        cadences = {"funding": settings.funding_poll_seconds, "ohlcv": settings.ohlcv_poll_seconds}
    unknown = set(cadences) - set(STREAMS)
    if unknown:
        raise ValueError(f"unknown streams {sorted(unknown)}; known: {', '.join(STREAMS)}")
    wanted = [p for p in (known_pairs(conn) if pairs is None else pairs) if p[0] in exchanges]
    newest = _newest(conn, wanted, now, older)
    rows = []
    for exchange in exchanges:
        for stream, cadence in cadences.items():
            time_ = newest.get(exchange, {}).get(stream)
            lag = (now - time_).total_seconds() if time_ is not None else None
            rows.append(
                {
                    "exchange": exchange, "stream": stream, "newest_time": time_,
                    "lag_seconds": lag, "cadence_seconds": float(cadence), "status": feed_status(lag, cadence),
                }  # fmt: skip
            )
    feeds = pd.DataFrame(rows, columns=["exchange", "stream", "newest_time", "lag_seconds", "cadence_seconds",
                                        "status"])
    feeds["newest_time"] = pd.to_datetime(feeds["newest_time"], utc=True)
    feeds["lag_seconds"] = feeds["lag_seconds"].astype("float64")
    return FeedHealth(now=now, feeds=feeds, status=overall_status(feeds["status"]))


def window_fingerprint(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    tables: Sequence[str] = ("funding_rates", "prices", "anomalies"),
) -> dict[str, tuple[int, datetime | None]]:
    """Row count and newest ``time`` (UTC) per table in ``[start, end)`` for the given exchanges/symbols:
    ``{table: (rows, newest)}``; ``system_metrics`` may be named too (not filtered: it has no pair columns).

    The dashboard's change detector: a page redraws only when this differs from what it drew. Bounded in time,
    so chunk exclusion keeps planning and scanning to the chunks of the range. Raises ``ValueError`` for a bad
    range and ``KeyError`` for an unknown table name.
    """
    _check_range(start, end)
    known = {t.name: t for t in (funding_rates, prices, anomalies, system_metrics)}
    out = {}
    for name in tables:
        table = known[name]
        clauses = [table.c.time >= start, table.c.time < end]
        if "exchange" in table.c:
            clauses += _filters(table, exchanges, symbols)
        rows, newest = conn.execute(select(func.count(), func.max(table.c.time)).where(*clauses)).one()
        out[name] = (int(rows), newest)
    return out
