"""The one path every batch takes: validate → anomalies (trailing window, with stored history) → write.

Used by the live worker, backfill, the bundled-history loader and the benchmark alike. Functions take a
``pandas.DataFrame`` (columns of :mod:`ingest.rows`) and return a :class:`PipelineResult`; rejected records
are counted, never raised. Database errors (``sqlalchemy.exc.OperationalError`` …) propagate with nothing
half-written per table, so callers can buffer and retry the batch.

Anomalies of a new batch are computed with the ``settings.anomaly_window`` observations stored *before* the
batch as context (read from the database), so a batch split differently yields the same anomalies.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, text

from db.writes import write_anomalies, write_candles, write_funding, write_open_interest
from ingest.anomaly import candle_metrics, frame_anomalies, funding_metrics, premium_metrics
from ingest.validate import Validated, validate_candles, validate_funding, validate_open_interest
from settings import Settings


@dataclass
class PipelineResult:
    """Counts of one batch: ``received`` rows, ``rejected`` ``{(exchange, symbol, reason): n}``, ``written``
    rows inserted/changed, ``anomalies`` anomaly rows inserted, ``rollups`` 15-minute and 1-hour rollup rows
    upserted (candles: ``prices`` rows of those timeframes; funding: ``funding_rates_15m``/``funding_rates_1h``
    rows)."""

    received: int = 0
    written: int = 0
    anomalies: int = 0
    rollups: int = 0
    rejected: dict = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, other: PipelineResult) -> None:
        """Accumulate ``other`` into this result."""
        self.received += other.received
        self.written += other.written
        self.anomalies += other.anomalies
        self.rollups += other.rollups
        for key, n in other.rejected.items():
            self.rejected[key] = self.rejected.get(key, 0) + n


_CANDLE_CONTEXT = text(
    "SELECT time, close, volume FROM prices WHERE exchange = :exchange AND symbol = :symbol AND timeframe = '1m' "
    "AND price_kind = :kind AND time < :before ORDER BY time DESC LIMIT :n"
)
_FUNDING_CONTEXT = text(
    "SELECT time, funding_rate, funding_interval_hours, mark_price, index_price FROM funding_rates "
    "WHERE exchange = :exchange AND symbol = :symbol AND settled = :settled AND time < :before "
    "ORDER BY time DESC LIMIT :n"
)


def _with_context(engine: Engine, frame: pd.DataFrame, query, params: dict, n: int) -> pd.DataFrame:
    """``frame`` of each exchange + symbol preceded by its last ``n`` stored rows (the trailing window)."""
    parts = []
    with engine.connect() as conn:
        for (exchange, symbol), group in frame.groupby(["exchange", "symbol"], sort=False):
            before = pd.to_datetime(group["time"], utc=True).min().to_pydatetime()
            stored = pd.DataFrame(conn.execute(query, {"exchange": exchange, "symbol": symbol, "before": before,
                                                       "n": n, **params}).mappings().all())
            if not stored.empty:
                parts.append(stored.assign(exchange=exchange, symbol=symbol, _context=True))
    if not parts:
        return frame
    context = pd.concat(parts, ignore_index=True)
    context["time"] = pd.to_datetime(context["time"], utc=True)
    return pd.concat([context, frame.assign(_context=False)], ignore_index=True)


def _anomaly_args(settings: Settings) -> dict:
    return {"window": settings.anomaly_window, "min_periods": settings.anomaly_min_periods,
            "threshold_scale": settings.anomaly_threshold_scale}


def _write_candle_batch(engine: Engine, valid: pd.DataFrame, found: Future) -> tuple:
    """One transaction: the candles, then (once ``found`` resolves) their anomalies. Returns ``(WriteResult of
    the candles, anomaly rows inserted)``; raises (nothing written) when a write or ``found`` fails."""
    with engine.begin() as conn:
        written = write_candles(conn, valid)
        anomalies = found.result()
        anomalies_written = write_anomalies(conn, anomalies).written if anomalies is not None else 0
    return written, anomalies_written


def _result(checked: Validated, written, anomalies_written: int) -> PipelineResult:
    return PipelineResult(received=len(checked.valid) + len(checked.rejected), written=written.written,
                          anomalies=anomalies_written, rollups=written.rollups, rejected=checked.rejected_counts())


def ingest_candles(engine: Engine, frame: pd.DataFrame, settings: Settings, *,
                   known_symbols: Collection[str] | None = None, now: datetime | None = None,
                   use_context: bool = True) -> PipelineResult:
    """Validate, find ``log_return_1m``/``log_volume_1m`` anomalies of 1-minute ``last`` candles, write both.

    Candles and anomalies are written in one transaction (a failed write raises and writes neither). The
    candle write (server-side work; psycopg releases the GIL while waiting) runs in a thread and overlaps the
    z-scores, which the same transaction writes once they are ready.

    ``use_context=False`` skips reading stored history (bulk loads into an empty range)."""
    checked = validate_candles(frame, settings, known_symbols, now)
    valid = checked.valid
    found: Future = Future()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_write_candle_batch, engine, valid, found)
        try:  # the context read (own connection) never sees the batch: the writer commits after `found`
            found.set_result(_candle_anomalies(engine, valid, settings, use_context))
        except BaseException as exc:  # the writer rolls back and re-raises it
            found.set_exception(exc)
        written, anomalies_written = pending.result()
    return _result(checked, written, anomalies_written)


def _candle_anomalies(engine: Engine, valid: pd.DataFrame, settings: Settings,
                      use_context: bool) -> pd.DataFrame | None:
    """Anomalies of the 1-minute ``last`` candles of ``valid`` (with stored context), ``None`` when there are none."""
    series = valid[(valid["timeframe"] == "1m") & (valid["price_kind"] == "last")]
    if series.empty:
        return None
    if use_context:
        series = _with_context(engine, series, _CANDLE_CONTEXT, {"kind": "last"}, settings.anomaly_window + 1)
    return frame_anomalies(series, candle_metrics, **_anomaly_args(settings))


def ingest_funding(engine: Engine, frame: pd.DataFrame, settings: Settings, *,
                   known_symbols: Collection[str] | None = None, now: datetime | None = None,
                   use_context: bool = True) -> PipelineResult:
    """Validate, find ``funding_rate`` anomalies (settled rows) and ``premium`` anomalies (predicted snapshots
    with mark and index price), write both. Settled and predicted rows are separate series."""
    checked = validate_funding(frame, settings, known_symbols, now)
    valid = checked.valid
    found = []
    for settled, metric_fn in ((True, funding_metrics), (False, premium_metrics)):
        part = valid[valid["settled"] == settled]
        if settled is False:
            part = part.dropna(subset=["mark_price", "index_price"])
        if part.empty:
            continue
        series = (_with_context(engine, part, _FUNDING_CONTEXT, {"settled": settled}, settings.anomaly_window + 1)
                  if use_context else part)
        found.append(frame_anomalies(series, metric_fn, **_anomaly_args(settings)))
    written = write_funding(engine, valid)
    anomalies = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    anomalies_written = write_anomalies(engine, anomalies).written if not anomalies.empty else 0
    return _result(checked, written, anomalies_written)


def ingest_open_interest(engine: Engine, frame: pd.DataFrame, settings: Settings, *,
                         known_symbols: Collection[str] | None = None, now: datetime | None = None) -> PipelineResult:
    """Validate (:func:`ingest.validate.validate_open_interest`) and write (``db.writes.write_open_interest``,
    idempotent) open-interest rows (:data:`ingest.rows.OPEN_INTEREST_COLUMNS`); no anomalies."""
    checked = validate_open_interest(frame, settings, known_symbols, now)
    return _result(checked, write_open_interest(engine, checked.valid), 0)
