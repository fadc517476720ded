"""``--write-minutes`` of ``make bench-market``: more all-market snapshots timed through ``db.writes.write_funding``
on a kept (``--reuse``) database, without the fill.

Data (``derived predicted``, as :func:`bench.market_data.predicted_minutes` derives it after the records end): one
predicted row per pair stored in ``funding_newest`` (settled) per minute, starting one minute after the newest
stored predicted row (the stored day of snapshots, or a previous run's), rate and interval = the pair's newest
settled row's (the "last one after its record ends" rule), no mark/index price or next settlement time.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import text

from db.writes import write_funding
from db.writes.common import FUNDING_COLUMNS
from db.writes.rollups import close_funding_rollups

_NEWEST_SETTLED = """SELECT exchange, symbol, funding_rate, funding_interval_hours FROM funding_newest
WHERE settled ORDER BY exchange, symbol"""


def snapshot_minutes(engine, minutes: int) -> list[pd.DataFrame]:
    """``minutes`` frames (``FUNDING_COLUMNS``, oldest first) of the minutes after the newest stored predicted row
    (module docstring); UTC times on the minute."""
    with engine.connect() as conn:
        pairs = pd.read_sql(text(_NEWEST_SETTLED), conn)
        after = conn.execute(text("SELECT max(time) FROM funding_newest WHERE NOT settled")).scalar_one()
    first = pd.Timestamp(after).floor("1min") + timedelta(minutes=1)
    base = pairs.assign(settled=False, mark_price=np.nan, index_price=np.nan, next_funding_time=pd.NaT)
    return [base.assign(time=first + timedelta(minutes=k))[list(FUNDING_COLUMNS)] for k in range(minutes)]


def bench_writes(engine, minutes: int, goal_ms: float, log) -> None:
    """Write and time ``minutes`` snapshots (:func:`snapshot_minutes`) one by one as ingest writes them (one
    ``write_funding`` call and transaction each): the minute's write, and apart from it the close of the rollups
    (``db.writes.rollups``) that the first minute of each hour brings (``write_funding`` runs it right after the
    minute's commit, in a transaction of its own); prints p50/p95 ms of each and of the two together."""
    frames = snapshot_minutes(engine, minutes)
    times, closes, totals = [], [], []
    for frame in frames:
        t0 = time.perf_counter()
        result = write_funding(engine, frame, close=False)
        t1 = time.perf_counter()
        if result.closable:
            close_funding_rollups(engine)
            closes.append((time.perf_counter() - t1) * 1000)
        times.append((t1 - t0) * 1000)
        totals.append((time.perf_counter() - t0) * 1000)
    log(f"write one all-market snapshot ({len(frames[0]):,} rows, derived predicted, "
        f"{frames[0]['time'].iloc[0]:%Y-%m-%d %H:%M} UTC on, write_funding): p50 {statistics.median(times):.1f} ms, "
        f"p95 {np.percentile(times, 95):.1f} ms over {len(times)} minutes (goal p95 <= {goal_ms:g} ms)")
    if closes:
        log(f"  close of the hour's rollups (close_funding_rollups, first minute of each hour): "
            f"p50 {statistics.median(closes):.1f} ms, max {max(closes):.1f} ms over {len(closes)} closes; "
            f"minute write + close: p50 {statistics.median(totals):.1f} ms, p95 {np.percentile(totals, 95):.1f} ms, "
            f"max {max(totals):.1f} ms")
