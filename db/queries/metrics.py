"""System metrics ingest writes: newest values and bucketed series."""

from __future__ import annotations

from collections.abc import Mapping
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


#: Aggregates of a bucket's samples, by name: each a function of the ``system_metrics`` columns.
_AGGREGATES = {
    "avg": lambda t: func.avg(t.value), "max": lambda t: func.max(t.value), "min": lambda t: func.min(t.value),
    "sum": lambda t: func.sum(t.value), "last": lambda t: func.last(t.value, t.time),
}  # fmt: skip


def metric_series(
    conn: Connection, metric: str, start: datetime, end: datetime, bucket: timedelta | None = None, agg: str = "avg"
) -> pd.DataFrame:
    """One system metric over ``[start, end)`` bucketed with ``time_bucket``, one series per label set.

    Columns: ``time`` (bucket start, UTC), ``value`` (``agg`` of the bucket: ``avg``, ``max``, ``min``, ``sum``
    or ``last``; metric's unit), ``unit``, ``labels`` (dict), then one column per label key (e.g. ``exchange``,
    ``stream``; None where a series lacks it). Sorted by labels, time.
    Raises ``ValueError`` for a bad range or an unknown ``agg``; ``KeyError`` for a bucket outside the whitelist.
    """
    return metric_series_many(conn, {metric: agg}, start, end, bucket)[metric]


def metric_series_many(
    conn: Connection, metrics: Mapping[str, str], start: datetime, end: datetime, bucket: timedelta | None = None
) -> dict[str, pd.DataFrame]:
    """:func:`metric_series` of every ``{metric: agg}`` of ``metrics`` in one statement (one plan and one scan of
    the range's chunks for the System page's five charts, instead of one each): ``{metric: frame}``, a metric
    without samples in the range as an empty frame. Raises as :func:`metric_series`."""
    check_range(start, end)
    unknown = sorted(set(metrics.values()) - set(_AGGREGATES))
    if unknown:
        raise ValueError(f"agg must be one of {', '.join(_AGGREGATES)}, got {unknown[0]!r}")
    width = resolve_bucket(start, end, bucket)
    t = system_metrics.c
    aggs = sorted(set(metrics.values()))
    tb = func.time_bucket(literal(width), t.time).label("time")
    stmt = (
        select(tb, t.metric, *(_AGGREGATES[a](t).label(a) for a in aggs), func.max(t.unit).label("unit"), t.labels)
        .where(t.metric.in_(list(metrics)), t.time >= start, t.time < end)
        .group_by(tb, t.metric, t.labels)
        .order_by(t.metric, t.labels, tb)
    )
    frame = frame_of(conn.execute(stmt), ["time"])
    return {name: _series(frame[frame["metric"] == name], agg) for name, agg in metrics.items()}


def _series(part: pd.DataFrame, agg: str) -> pd.DataFrame:
    """One metric's rows of :func:`metric_series_many` in :func:`metric_series`'s columns."""
    frame = pd.DataFrame({"time": part["time"], "value": part[agg].astype("float64"), "unit": part["unit"],
                          "labels": part["labels"]}).reset_index(drop=True)  # fmt: skip
    keys = sorted({k for labels in frame["labels"] for k in labels})
    for key in keys:
        frame[key] = [labels.get(key) for labels in frame["labels"]]
    return frame
