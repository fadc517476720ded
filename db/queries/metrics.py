"""System metrics ingest writes: newest values and bucketed series."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, func, literal, select
from sqlalchemy.dialects.postgresql import distinct_on

from db.queries.common import check_range, frame_of, resolve_bucket
from db.schema import system_metrics


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
    frame = frame_of(conn.execute(stmt), ["time"])
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
    check_range(start, end)
    width = resolve_bucket(start, end, bucket)
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
    frame = frame_of(conn.execute(stmt), ["time"])
    frame["value"] = frame["value"].astype("float64")
    keys = sorted({k for labels in frame["labels"] for k in labels})
    for key in keys:
        frame[key] = [labels.get(key) for labels in frame["labels"]]
    return frame

