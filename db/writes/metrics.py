"""System-metric writes (samples of the pipeline's gauges and counters)."""

from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import Connection, Engine, text

from db.schema import system_metrics
from db.writes.common import METRIC_COLUMNS, WriteResult, insert_sql, run, stage_frame


def write_metrics(bind: Engine | Connection, frame: pd.DataFrame) -> WriteResult:
    """Write system-metric samples (``METRIC_COLUMNS``; ``labels`` dicts become JSONB), DO NOTHING on a key."""
    if frame.empty:
        return WriteResult(0, 0)
    frame = frame.assign(labels=[json.dumps(v, sort_keys=True) for v in frame["labels"]])

    def work(conn: Connection) -> WriteResult:
        stage = stage_frame(conn, system_metrics.name, METRIC_COLUMNS, frame)
        sql = insert_sql(system_metrics.name, stage, METRIC_COLUMNS, "DO NOTHING")
        return WriteResult(conn.execute(text(sql)).rowcount, len(frame))

    return run(bind, work)

