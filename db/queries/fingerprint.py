"""Change detection of the dashboard: a fingerprint of the rows a view draws, and the newest time in its window.

A page redraws only when :func:`window_fingerprint` of its window differs from the one it drew, so the fingerprint
must change whenever the drawn data would (new rows, corrected rows, backfill into the window, rows removed) and
should cost little: it runs on every opening and every refresh tick.

**Where the chart reads rollups, so does the fingerprint.** For a bucket of 15 minutes or more
(:func:`db.queries.choose_bucket`: windows longer than ~26 hours), ``funding_series`` reads the funding rollup
``funding_rates_15m`` / ``funding_rates_1h`` (the coarsest that tiles the bucket) and ``price_series`` the candle
rollups (``prices`` rows of 15m or 1h and coarser timeframes); their fingerprint is then taken over those rollup
rows in the buckets the chart draws (``align_range``), not over the raw rows (a 30-day window: 4 k rollup rows
instead of 215 k raw rows per table; ~5 ms instead of ~100 ms):

* ``[rollup rows, sum of rows, sum of the epoch of updated_at]`` for funding, ``[rollup candles, sum of the epoch
  of received_at]`` for prices (sums as exact ``numeric``, in text); funding adds ``[raw rows, sum of the epoch of
  received_at]`` of the predicted rows from the rollup horizon on (``db.writes.rollups``: the live hour's rows,
  rolled up when it closes; the charts read them raw). An upsert sets ``received_at`` to ``now()`` on every change.

Why that is sufficient: ``db.writes`` keeps the rollups in the transaction of every write (``write_funding``,
``write_candles``; the predicted funding rows from the rollup horizon on are counted raw, above): a bucket
receiving a new raw row gets its rollup row inserted, or updated when a value
changed (funding: ``rows`` always changes); an update rewrites ``updated_at`` / ``received_at`` with ``now()``
only when a value differs (``IS DISTINCT FROM``), and retention drops rollup chunks like raw ones (rows: count
falls). So every change of a value the chart draws from a rollup row changes the count, ``rows`` or the row's
timestamp, hence the sums (a sum rather than ``max``: a transaction that started earlier may commit later with
an older ``now()``). The finer candles (1m; 5m and 15m for 1-hour buckets) are read by ``price_series`` only for
pairs without rollup candles in the range, which the write path never leaves (every 1-minute candle's hour has
its rollups; the bundled cross-venue history is stored as 1-hour candles, which are counted). Backfill into a
window in the past lands in its buckets, so past windows are covered as live ones. A change outside the drawn
buckets need not (and does not) change it.

For finer buckets (1 and 5 minutes: windows up to ~26 hours; a few ms for 24 hours of 5 symbols) the charts read
raw rows: the version is their count in the drawn buckets (inserts, backfill, removals) followed by the version of
the 15-minute rollup rows of those buckets (corrections: a corrected raw row changes its rollup row unless it
leaves every aggregate of its 15 minutes as it was, e.g. the close of a candle that is not the bucket's last with
unchanged high, low and volume). ``anomalies`` and ``system_metrics`` are always counted raw (sparse, or not
drawn from rollups). Not covered: rows written around ``db.writes`` (plain SQL: no rollup rows), which the charts
read raw for pairs without rollups; at buckets of 15 minutes and more their changes do not change the version
(their newest time still shows).

Prices are counted as the charts read them: last-price candles of :data:`~db.queries.common.CANDLE_TIMEFRAMES`
(every column of the primary key bound, so the index seeks to the window instead of scanning each pair's rows of
the chunk: the newest price of 5 coins on 4 exchanges 5.5 -> 1.1 ms of execution here).

The **newest** time per table (the "data as of" stamp) is ``max(time)`` of the raw rows in ``[start, end)``; with
rollups it is read from the newest rollup bucket before ``end`` onwards (one bucket of raw rows), falling back
to the rest of the window only when that bucket has no row before ``end``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, extract, func, or_, select, true

from db.queries.common import CANDLE_TIMEFRAMES, align_range, check_range, choose_bucket, pair_filters
from db.queries.funding import rollup_horizon
from db.schema import FUNDING_ROLLUPS, anomalies, funding_rates, prices, system_metrics

#: Candle rollup timeframes ``db.writes`` keeps from 1-minute candles (``db.writes.candles.ROLLUP_WIDTHS``).
CANDLE_ROLLUPS: dict[str, timedelta] = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}
#: Funding rollup tables by name (``db.schema.FUNDING_ROLLUPS``).
_FUNDING_TABLES: dict[str, Table] = {t.name: t for t in FUNDING_ROLLUPS.values()}
_KNOWN = {t.name: t for t in (funding_rates, prices, anomalies, system_metrics)}


def _tiling(widths: dict[str, timedelta], bucket: timedelta) -> str:
    """The name of the coarsest of ``widths`` (name -> width) that tiles ``bucket``, or "" when none does."""
    fits = [(w, k) for k, w in widths.items() if w <= bucket and bucket % w == timedelta(0)]
    return max(fits)[1] if fits else ""


def _funding_version(conn: Connection, name: str, pairs: tuple, lo: datetime, hi: datetime, end: datetime):
    """``([rollup rows, sum of rows, sum of epoch(updated_at) as text, raw rows, sum of epoch(received_at) as text],
    newest bucket start before end)`` of the funding rollup ``name``'s rows of ``pairs`` (exchanges, symbols) in
    ``[lo, hi)`` (predicted ones before the rollup horizon) and of the predicted raw rows from the horizon on
    (not yet rolled up, ``db.writes.rollups``: the charts read them raw)."""
    table = _FUNDING_TABLES[name]
    r, f = table.c, funding_rates.c
    horizon = rollup_horizon(conn)
    tail = lo if horizon is None else max(lo, horizon)  # a bound value: the planner excludes the chunks before it
    rolled = select(
        func.count().label("n"), func.sum(r.rows).label("rows"), func.sum(extract("epoch", r.updated_at)).label("s"),
        func.max(r.time).filter(r.time < end).label("last"),
    ).where(*pair_filters(table, *pairs), r.time >= lo, r.time < hi, or_(r.settled, r.time < tail)).subquery()
    raw = select(func.count().label("n"), func.sum(extract("epoch", f.received_at)).label("s")).where(
        *pair_filters(funding_rates, *pairs), ~f.settled, f.time >= tail, f.time < hi).subquery()
    n, rows, stamps, last, raw_n, raw_stamps = conn.execute(
        select(rolled.c.n, rolled.c.rows, rolled.c.s, rolled.c.last, raw.c.n, raw.c.s).select_from(
            rolled.join(raw, true()))).one()  # fmt: skip
    return [int(n), int(rows or 0), str(stamps or 0), int(raw_n), str(raw_stamps or 0)], last


def _candle_version(conn: Connection, timeframe: str, pairs: tuple, lo: datetime, hi: datetime, end: datetime):
    """``([candles, sum of epoch(received_at) as text], newest bucket start before end)`` of the ``prices`` rows of
    ``pairs`` (exchanges, symbols) of rollup ``timeframe`` and coarser timeframes in ``[lo, hi)``."""
    c = prices.c
    kept = [name for name, width in CANDLE_TIMEFRAMES.items() if width >= CANDLE_ROLLUPS[timeframe]]
    n, stamps, last = conn.execute(select(
        func.count(), func.sum(extract("epoch", c.received_at)), func.max(c.time).filter(c.time < end),
    ).where(*pair_filters(prices, *pairs), c.timeframe.in_(kept), c.price_kind == "last", c.time >= lo,
            c.time < hi)).one()  # fmt: skip
    return [int(n), str(stamps or 0)], last


def _newest(conn: Connection, table: Table, where: list, start: datetime, end: datetime, last) -> datetime | None:
    """``max(time)`` of ``table``'s rows (``where``) in ``[start, end)``, read from ``last`` (the newest rollup
    bucket start before ``end``) onwards first; without rollup rows (None) over the window (an index probe that
    finds nothing, or rows written around ``db.writes``, which the charts read raw)."""
    t = table.c
    lo = start if last is None else max(start, last)
    newest = conn.execute(select(func.max(t.time)).where(*where, t.time >= lo, t.time < end)).scalar()
    if newest is None and lo > start:  # the bucket's rows all lie at or after end: the newest is before it
        newest = conn.execute(select(func.max(t.time)).where(*where, t.time >= start, t.time < lo)).scalar()
    return newest


def _raw(conn: Connection, table: Table, where: list, start, end, lo, hi) -> tuple[int, datetime | None]:
    """``(rows in [lo, hi), newest time in [start, end))`` of ``table``'s rows (``where``)."""
    t = table.c
    rows, newest = conn.execute(
        select(func.count(), func.max(t.time).filter(t.time >= start, t.time < end)).where(*where, t.time >= lo,
                                                                                         t.time < hi)
    ).one()  # fmt: skip
    return int(rows), newest


def _one_table(conn: Connection, name: str, exchanges, symbols, start, end, bucket) -> tuple[object, datetime | None]:
    """``(version, newest)`` of table ``name`` (:func:`window_fingerprint`)."""
    table = _KNOWN[name]
    where = pair_filters(table, exchanges, symbols) if "exchange" in table.c else []
    if name == "prices":  # every key column of the primary key bound: index seeks to the window, not a range scan
        where += [prices.c.timeframe.in_(list(CANDLE_TIMEFRAMES)), prices.c.price_kind == "last"]
    lo, hi = align_range(start, end, bucket)
    if name == "funding_rates":
        rollup = _tiling({t.name: w for w, t in FUNDING_ROLLUPS.items()}, bucket)
        finest = FUNDING_ROLLUPS[min(FUNDING_ROLLUPS)].name
        version, last = _funding_version(conn, rollup or finest, (exchanges, symbols), lo, hi, end)
    elif name == "prices":
        rollup = _tiling(CANDLE_ROLLUPS, bucket)
        finest = min(CANDLE_ROLLUPS, key=CANDLE_ROLLUPS.get)
        version, last = _candle_version(conn, rollup or finest, (exchanges, symbols), lo, hi, end)
    else:
        return _raw(conn, table, where, start, end, lo, hi)
    if rollup:
        return version, _newest(conn, table, where, start, end, last)
    rows, newest = _raw(conn, table, where, start, end, lo, hi)
    return [rows, *version], newest


def window_fingerprint(
    conn: Connection,
    exchanges: Sequence[str] | None,
    symbols: Sequence[str] | None,
    start: datetime,
    end: datetime,
    tables: Sequence[str] = ("funding_rates", "prices", "anomalies"),
    bucket: timedelta | None = None,
) -> dict[str, tuple[object, datetime | None]]:
    """``{table: (version, newest)}`` of the given exchanges/symbols for a view of ``[start, end)`` (aware UTC)
    drawn in buckets of ``bucket`` (default :func:`choose_bucket`, as the pages draw): ``version`` a JSON-able value
    that changes whenever the rows drawn from the table change (module docstring: lists for funding and prices, the
    raw row count in the drawn buckets for the others), ``newest`` the newest row time in ``[start, end)`` (UTC,
    None without rows). ``system_metrics`` may be named too (not filtered: it has no pair columns). Raises
    ``ValueError`` for a bad range and ``KeyError`` for an unknown table name."""
    check_range(start, end)
    bucket = bucket or choose_bucket(start, end)
    return {name: _one_table(conn, name, exchanges, symbols, start, end, bucket) for name in tables}
