"""One anomaly per observation (metric + exchange + symbol + time), judged by the metric's method.

The metric's method (:data:`ingest.anomaly.specs.SPECS`) decides: an observation is an anomaly when its |z| by
that method is at or above the threshold (× ``threshold_scale``). The row stores that z, its centre and spread in
the metric's stored unit, and in ``metadata`` (JSON): ``method``, ``z`` (the z of *each* method, robust and
ewma, for comparison), ``floor`` (stored unit) and, for funding, ``interval_hours``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ingest.anomaly.ewma import trailing_ewma
from ingest.anomaly.robust import robust_anomalies, robust_spread
from ingest.anomaly.specs import SPECS, MetricSpec
from ingest.rows import ANOMALY_COLUMNS


def _ewma(values: pd.Series, spec: MetricSpec, window: int, min_periods: int) -> pd.DataFrame:
    return trailing_ewma(values, window, min_periods, spec.half_life, spec.floor, spec.zero_centre)


def _robust_z(values: pd.Series, pos: np.ndarray, spec: MetricSpec, window: int, min_periods: int) -> np.ndarray:
    """Robust z (floored) at positions ``pos`` of ``values``."""
    median = values.shift(1).rolling(window, min_periods=min_periods).median().to_numpy()[pos]
    spread = robust_spread(values.to_numpy(dtype="float64"), pos, window, median, spec.floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (values.to_numpy(dtype="float64")[pos] - median) / spread


def judge(values: pd.Series, spec: MetricSpec, window: int, min_periods: int, threshold: float) -> pd.DataFrame:
    """Anomalies of one judged series (positional): columns ``pos``, ``centre``, ``spread`` (judged unit),
    ``z`` (by ``spec.method``), ``z_robust``, ``z_ewma``. Raises ``ValueError`` for an unknown method."""
    values = values.reset_index(drop=True).astype("float64")
    ewma = _ewma(values, spec, window, min_periods)
    if spec.method == "robust":
        found = robust_anomalies(values, window, min_periods, threshold, spec.floor)
        pos = found["pos"].to_numpy()
        return pd.DataFrame(
            {
                "pos": pos,
                "centre": found["centre"].to_numpy(),
                "spread": found["spread"].to_numpy(),
                "z": found["z"].to_numpy(),
                "z_robust": found["z"].to_numpy(),
                "z_ewma": ewma["z"].to_numpy()[pos],
            }
        )
    if spec.method == "ewma":
        pos = np.flatnonzero((ewma["z"].abs() >= threshold).to_numpy())
        z = ewma["z"].to_numpy()[pos]
        return pd.DataFrame(
            {
                "pos": pos,
                "centre": ewma["centre"].to_numpy()[pos],
                "spread": ewma["spread"].to_numpy()[pos],
                "z": z,
                "z_robust": _robust_z(values, pos, spec, window, min_periods),
                "z_ewma": z,
            }
        )
    raise ValueError(f"unknown anomaly method {spec.method!r}")


def _num(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def series_anomalies(
    times: pd.Series,
    judged: pd.Series,
    scale: pd.Series,
    metric: str,
    *,
    window: int,
    min_periods: int,
    threshold_scale: float = 1.0,
    emit_from: int = 0,
) -> pd.DataFrame:
    """Anomalies of one time-ordered series of ``metric``: columns ``time, method, value, centre, spread, z_score,
    threshold, window, metadata`` (stored unit = judged × ``scale``). Positions before ``emit_from`` are context
    (history already stored): they feed the windows but are not reported. Raises ``KeyError`` for an unknown
    metric."""
    spec = SPECS[metric]
    threshold = spec.threshold * threshold_scale
    found = judge(judged, spec, window, min_periods, threshold)
    found = found[(found["pos"] >= emit_from) & np.isfinite(scale.to_numpy()[found["pos"].to_numpy()])]
    pos = found["pos"].to_numpy()
    factor = scale.reset_index(drop=True).to_numpy(dtype="float64")[pos]
    centre, spread = found["centre"].to_numpy() * factor, found["spread"].to_numpy() * factor
    meta = []
    for zr, ze, f in zip(found["z_robust"], found["z_ewma"], factor, strict=True):
        info = {"method": spec.method, "z": {"robust": _num(zr), "ewma": _num(ze)}, "floor": spec.floor * f}
        if metric == "funding_rate":
            info["interval_hours"] = float(f)
        meta.append(json.dumps(info))
    return pd.DataFrame(
        {
            "time": times.reset_index(drop=True).iloc[pos].to_numpy(),
            "method": spec.method,
            "value": judged.reset_index(drop=True).to_numpy(dtype="float64")[pos] * factor,
            "centre": centre,
            "spread": spread,
            "z_score": found["z"].to_numpy(),
            "threshold": float(threshold),
            "window": int(window),
            "metadata": meta,
        }
    )


def frame_anomalies(
    frame: pd.DataFrame, metric_fn, *, window: int, min_periods: int, threshold_scale: float = 1.0
) -> pd.DataFrame:
    """Anomalies (:data:`ingest.rows.ANOMALY_COLUMNS`) of every exchange + symbol series in ``frame``.

    ``metric_fn(group) -> {metric: (judged, scale)}`` (:mod:`ingest.anomaly.series`) derives the metric series of
    one time-ordered group. Rows with a true ``_context`` column (stored history preceding the batch) feed the
    windows but are not reported. Raises nothing on empty input.
    """
    parts = []
    for (exchange, symbol), unsorted in frame.groupby(["exchange", "symbol"], sort=False):
        group = unsorted.sort_values("time")
        times = group["time"].reset_index(drop=True)
        emit_from = int(group["_context"].sum()) if "_context" in group else 0
        for metric, (judged, scale) in metric_fn(group).items():
            found = series_anomalies(
                times,
                judged,
                scale,
                metric,
                window=window,
                min_periods=min_periods,
                threshold_scale=threshold_scale,
                emit_from=emit_from,
            )
            parts.append(found.assign(exchange=exchange, symbol=symbol, metric=metric))
    if not parts:
        return pd.DataFrame(columns=list(ANOMALY_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(ANOMALY_COLUMNS)]
