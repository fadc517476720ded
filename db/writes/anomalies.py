"""Anomaly writes: one row per observation (exchange + symbol + metric + time); found twice it stays one row."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from db.schema import anomalies
from db.writes.common import ANOMALY_TYPES, WriteResult, copy_binary, run, upsert_binary

_ANOMALY_SERIES = ("exchange", "symbol", "metric")
_ANOMALIES_STORED = text(
    "SELECT EXISTS (SELECT 1 FROM anomalies WHERE exchange = :exchange AND symbol = :symbol AND metric = :metric "
    "AND time BETWEEN :lo AND :hi)"
)
#: Smallest anomaly batch worth the direct COPY: it costs one range probe per series, and below this size the
#: staging ``INSERT … ON CONFLICT`` is as fast.
DIRECT_COPY_MIN_ROWS = 2_000


def _copy_new_anomalies(conn: Connection, frame: pd.DataFrame) -> bool:
    """Fast path of a large anomaly batch none of whose keys can be stored (no stored anomaly in any series'
    time range, no repeated key): one binary ``COPY`` into the hypertable in a savepoint. False (nothing
    written) when the batch is small or may conflict, or a concurrent writer stored a key meanwhile."""
    if len(frame) < DIRECT_COPY_MIN_ROWS:
        return False
    times = pd.to_datetime(frame["time"], utc=True)
    ranges = times.groupby([frame[c] for c in _ANOMALY_SERIES]).agg(["min", "max", "size", "nunique"])
    if (ranges["size"] != ranges["nunique"]).any():
        return False
    for (exchange, symbol, metric), (lo, hi, _, _) in ranges.iterrows():
        params = {"exchange": exchange, "symbol": symbol, "metric": metric,
                  "lo": lo.to_pydatetime(), "hi": hi.to_pydatetime()}
        if conn.execute(_ANOMALIES_STORED, params).scalar_one():
            return False
    try:
        with conn.begin_nested():
            copy_binary(conn, anomalies.name, ANOMALY_TYPES, frame)
    except IntegrityError:
        return False
    return True


def write_anomalies(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write anomaly rows (``ANOMALY_COLUMNS``); the same anomaly found twice stays one row (DO NOTHING).
    Large batches that cannot conflict are copied straight in (:func:`_copy_new_anomalies`)."""
    if frame.empty:
        return WriteResult(0, 0)

    def work(conn: Connection) -> WriteResult:
        if _copy_new_anomalies(conn, frame):
            return WriteResult(len(frame), len(frame))
        return WriteResult(upsert_binary(conn, anomalies.name, ANOMALY_TYPES, frame, "DO NOTHING"), len(frame))

    return run(bind, work)
