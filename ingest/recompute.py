"""``python -m ingest recompute-anomalies``: rewrite the stored anomalies from the raw rows with the current methods.

Per exchange + symbol and kind (1-minute ``last`` candles → ``log_return_1m``/``log_volume_1m``; settled funding
→ ``funding_rate``; predicted snapshots with mark and index price → ``premium``) the whole stored series is read,
judged (:mod:`ingest.anomaly`) and its anomalies of those metrics replaced in one transaction, so a rerun gives the
same rows (idempotent) and a failure leaves each series either old or new. Progress: one log line per series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, text

from db.writes import write_anomalies
from ingest.anomaly import candle_metrics, frame_anomalies, funding_metrics, premium_metrics
from settings import Settings

log = logging.getLogger("ingest.recompute")


@dataclass(frozen=True)
class Kind:
    """One kind of raw series: the query listing its pairs, the query reading one pair, its metric function."""

    pairs: str
    rows: str
    metric_fn: object
    metrics: tuple[str, ...]


KINDS = {
    "candles": Kind(
        "SELECT DISTINCT exchange, symbol FROM prices WHERE timeframe = '1m' AND price_kind = 'last'",
        "SELECT time, exchange, symbol, close, volume FROM prices WHERE exchange = :e AND symbol = :s "
        "AND timeframe = '1m' AND price_kind = 'last' ORDER BY time",
        candle_metrics,
        ("log_return_1m", "log_volume_1m"),
    ),
    "funding": Kind(
        "SELECT DISTINCT exchange, symbol FROM funding_rates WHERE settled",
        "SELECT time, exchange, symbol, funding_rate, funding_interval_hours FROM funding_rates "
        "WHERE exchange = :e AND symbol = :s AND settled ORDER BY time",
        funding_metrics,
        ("funding_rate",),
    ),
    "premium": Kind(
        "SELECT DISTINCT exchange, symbol FROM funding_rates WHERE NOT settled AND mark_price IS NOT NULL "
        "AND index_price IS NOT NULL",
        "SELECT time, exchange, symbol, mark_price, index_price FROM funding_rates WHERE exchange = :e "
        "AND symbol = :s AND NOT settled AND mark_price IS NOT NULL AND index_price IS NOT NULL ORDER BY time",
        premium_metrics,
        ("premium",),
    ),
}


def judged_series(engine: Engine, settings: Settings) -> Iterator[tuple[str, str, str, pd.DataFrame, int, float]]:
    """``(kind, exchange, symbol, anomalies, observations, days)`` of every stored series: its anomalies
    (``ANOMALY_COLUMNS``) computed from all its raw rows, its row count and the days its rows span. Reads only."""
    args = {
        "window": settings.anomaly_window,
        "min_periods": settings.anomaly_min_periods,
        "threshold_scale": settings.anomaly_threshold_scale,
    }
    with engine.connect() as conn:
        for name, kind in KINDS.items():
            for exchange, symbol in conn.execute(text(kind.pairs)).all():
                rows = pd.DataFrame(conn.execute(text(kind.rows), {"e": exchange, "s": symbol}).mappings().all())
                rows["time"] = pd.to_datetime(rows["time"], utc=True)
                days = (rows["time"].max() - rows["time"].min()) / pd.Timedelta(days=1)
                yield name, exchange, symbol, frame_anomalies(rows, kind.metric_fn, **args), len(rows), days


def recompute_anomalies(engine: Engine, settings: Settings) -> int:
    """Replace every series' stored anomalies by a recomputation (module docstring); returns rows written.
    Raises the database's error when a write fails (the series being written is left as it was)."""
    total = 0
    delete = text("DELETE FROM anomalies WHERE exchange = :e AND symbol = :s AND metric = ANY(:m)")
    for name, exchange, symbol, found, observations, _ in judged_series(engine, settings):
        with engine.begin() as conn:
            conn.execute(delete, {"e": exchange, "s": symbol, "m": list(KINDS[name].metrics)})
            written = write_anomalies(conn, found).written
        total += written
        log.info("recomputed %s %s %s: %d observations, %d anomalies", name, exchange, symbol, observations, written)
    return total
