"""Z-score anomalies on trailing windows (no look-ahead), classic and robust.

For an observation ``x_t`` of one series (one exchange + symbol + metric, in time order) the window is the
``window`` observations *before* it, ``x_{t-window} … x_{t-1}`` — the current point is never part of its own
window, and nothing later is used. A z-score is computed once the window holds ``min_periods`` finite values.

* ``zscore`` (classic): centre = mean, spread = population standard deviation (**ddof=0**, as
  ``scipy.stats.zscore``'s default; pandas' ``rolling().std()`` defaults to ddof=1, so ddof=0 is passed).
* ``robust``: centre = median, spread = 1.4826 × MAD, MAD = median(|x_i − median|) over the window
  (1.4826 = 1/Φ⁻¹(3/4) makes it a consistent estimator of σ for normal data; ``scipy.stats.median_abs_deviation``
  with ``scale="normal"``).

``z = (x_t − centre) / spread``; an observation is an anomaly when the spread is usable and ``|z| ≥ threshold``.

A spread is *usable* when it exceeds ``SPREAD_FLOOR_ABS + SPREAD_FLOOR_REL × |centre|``: a window of identical
values (Binance's neutral funding rate 0.0001 repeated) has a spread of 0 up to floating-point noise (1e-20), and
dividing by that noise gave z-scores of 1e17. When the MAD is not usable (more than half the window equals the
median), the robust spread falls back to 1.2533 × the mean absolute deviation around the median (the "modified
z-score" fallback of IBM SPSS Modeler's anomaly documentation; 1.2533 = √(π/2) makes it consistent with σ for
normal data); when that is not usable either, no z-score is given.

Metrics (``anomalies.metric``): ``funding_rate`` (settled rates, fraction per interval), ``log_return_1m``
(ln(close_t / close_{t−1}) of consecutive 1-minute candles; undefined across a gap), ``log_volume_1m``
(ln of the base-asset volume of a 1-minute candle; undefined for a zero-volume minute — volume is roughly
log-normal, and z-scores of the raw volume flagged ~120 robust anomalies per symbol and day on the recorded
ETH month, against ~7 on its logarithm), ``premium`` ((mark − index) / index of the predicted-funding
snapshots, fraction).

Bulk computation uses pandas rolling windows per series. The robust MAD has no rolling form, so it is computed
exactly (numpy, over the window's values) only for candidates: with q₃₀, q₇₀ the window's 30 % and 70 %
quantiles, at least ~60 % of the window lies outside (q₃₀, q₇₀), so MAD ≥ d = min(median − q₃₀, q₇₀ − median),
hence |z| ≤ |x − median| / (1.4826 d). Points below the threshold by that bound are skipped; the result equals
the exhaustive computation (tested). A window whose MAD is 0 (where the mean-deviation fallback applies) has
d = 0, so all its points are candidates and the fallback never hides behind the prefilter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ingest.rows import ANOMALY_COLUMNS

#: 1 / Φ⁻¹(0.75): scales the MAD to a standard deviation for normal data (scipy's ``scale="normal"``).
MAD_SCALE = 1.4826
METHODS = ("zscore", "robust")
#: √(π/2): scales the mean absolute deviation to a standard deviation for normal data (robust fallback).
MEANAD_SCALE = 1.2533
#: A spread at or below ``SPREAD_FLOOR_ABS + SPREAD_FLOOR_REL × |centre|`` is floating-point noise, not spread.
SPREAD_FLOOR_ABS = 1e-12
SPREAD_FLOOR_REL = 1e-9
#: Safety margin on the MAD lower bound of the robust prefilter (floating point).
_BOUND_MARGIN = 0.999


def usable_spread(spread, centre):
    """Boolean mask (same shape): ``spread`` is finite and above the noise floor for ``centre`` (see module doc)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(spread) & (spread > SPREAD_FLOOR_ABS + SPREAD_FLOOR_REL * np.abs(centre))


def trailing_classic(values: pd.Series, window: int, min_periods: int) -> pd.DataFrame:
    """Columns ``centre`` (mean), ``spread`` (std, ddof=0), ``z`` for each position of ``values``
    (positional; NaN where fewer than ``min_periods`` finite values precede it or spread is 0)."""
    prior = values.shift(1).rolling(window, min_periods=min_periods)
    centre = prior.mean()
    spread = prior.std(ddof=0)
    return _with_z(values, centre, spread)


def trailing_robust(values: pd.Series, window: int, min_periods: int) -> pd.DataFrame:
    """Columns ``centre`` (median), ``spread`` (1.4826 × MAD), ``z`` for every position, exhaustively
    (numpy median over each trailing window; O(n × window) memory in blocks). Used by tests and small series."""
    centre = values.shift(1).rolling(window, min_periods=min_periods).median()
    idx = np.flatnonzero(centre.notna().to_numpy())
    spread = pd.Series(np.nan, index=values.index)
    spread.iloc[idx] = _robust_spread(values.to_numpy(dtype="float64"), idx, window, centre.to_numpy()[idx])
    return _with_z(values, centre, spread)


def _with_z(values: pd.Series, centre: pd.Series, spread: pd.Series) -> pd.DataFrame:
    spread = spread.where(usable_spread(spread.to_numpy(), centre.to_numpy()))
    return pd.DataFrame({"centre": centre, "spread": spread, "z": (values - centre) / spread})


def _robust_spread(x: np.ndarray, idx: np.ndarray, window: int, medians: np.ndarray,
                   block: int = 20_000) -> np.ndarray:
    """Robust spread of the ``window`` values before each position in ``idx`` (NaNs ignored), around
    ``medians``: 1.4826 × MAD, or 1.2533 × mean absolute deviation where the MAD is not usable (NaN stays)."""
    padded = np.concatenate([np.full(window, np.nan), x])
    views = sliding_window_view(padded, window)  # views[i] = x[i-window:i]
    out = np.empty(len(idx))
    for start in range(0, len(idx), block):
        sel = idx[start:start + block]
        centre = medians[start:start + block]
        dev = np.abs(views[sel] - centre[:, None])
        spread = MAD_SCALE * _row_nanmedian(dev)
        fallback = ~usable_spread(spread, centre)
        if fallback.any():
            spread[fallback] = MEANAD_SCALE * np.nanmean(dev[fallback], axis=1)
        out[start:start + block] = spread
    return out


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """``np.nanmedian(values, axis=1)``, with ``np.median`` (partition) for the rows without NaN: nanmedian's
    masked-array sort was most of the robust z-score's time; the values are the same."""
    has_nan = np.isnan(values).any(axis=1)
    out = np.empty(len(values))
    out[~has_nan] = np.median(values[~has_nan], axis=1)
    if has_nan.any():
        out[has_nan] = np.nanmedian(values[has_nan], axis=1)
    return out


def robust_anomalies(values: pd.Series, window: int, min_periods: int, threshold: float) -> pd.DataFrame:
    """Rows of ``values`` (positions) whose robust |z| ≥ ``threshold``: columns ``pos``, ``value``, ``centre``,
    ``spread``, ``z``. Exact, with the quantile prefilter described in the module docstring."""
    prior = values.shift(1).rolling(window, min_periods=min_periods)
    median = prior.median().to_numpy()
    lo = prior.quantile(0.3).to_numpy()
    hi = prior.quantile(0.7).to_numpy()
    x = values.to_numpy(dtype="float64")
    bound = _BOUND_MARGIN * MAD_SCALE * np.minimum(median - lo, hi - median)
    with np.errstate(invalid="ignore"):
        candidate = np.isfinite(x) & np.isfinite(median) & (np.abs(x - median) >= threshold * bound)
    idx = np.flatnonzero(candidate)
    spread = _robust_spread(x, idx, window, median[idx])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x[idx] - median[idx]) / spread
        hit = usable_spread(spread, median[idx]) & (np.abs(z) >= threshold)
    return pd.DataFrame({"pos": idx[hit], "value": x[idx][hit], "centre": median[idx][hit],
                         "spread": spread[hit], "z": z[hit]})


def classic_anomalies(values: pd.Series, window: int, min_periods: int, threshold: float) -> pd.DataFrame:
    """Like :func:`robust_anomalies` for the classic z-score (mean, std ddof=0)."""
    res = trailing_classic(values, window, min_periods)
    hit = (res["z"].abs() >= threshold).to_numpy()
    idx = np.flatnonzero(hit)
    return pd.DataFrame({"pos": idx, "value": values.to_numpy(dtype="float64")[idx],
                         "centre": res["centre"].to_numpy()[idx], "spread": res["spread"].to_numpy()[idx],
                         "z": res["z"].to_numpy()[idx]})


def series_anomalies(times: pd.Series, values: pd.Series, *, window: int, min_periods: int, threshold: float,
                     emit_from: int = 0) -> pd.DataFrame:
    """Anomalies of one time-ordered series by both methods: columns ``time, method, value, centre, spread,
    z_score, threshold, window``. Positions before ``emit_from`` are context only (history already stored):
    they feed the windows but are not reported."""
    values = values.reset_index(drop=True).astype("float64")
    times = times.reset_index(drop=True)
    parts = []
    for method, finder in (("zscore", classic_anomalies), ("robust", robust_anomalies)):
        found = finder(values, window, min_periods, threshold)
        found = found[found["pos"] >= emit_from]
        parts.append(found.assign(method=method, time=times.iloc[found["pos"].to_numpy()].to_numpy()))
    out = pd.concat(parts, ignore_index=True).rename(columns={"z": "z_score"})
    return out.assign(threshold=float(threshold), window=int(window)).drop(columns="pos")


def candle_metrics(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """``{"log_return_1m": …, "log_volume_1m": …}`` (natural logs) for one symbol's time-ordered 1-minute candles.

    The log return is NaN where the previous candle is not exactly one minute earlier (gap); the log volume is
    NaN where the volume is 0 or missing."""
    close = frame["close"].to_numpy(dtype="float64")
    times = pd.to_datetime(frame["time"], utc=True)
    prev_ok = (times.diff() == pd.Timedelta(minutes=1)).to_numpy()
    log_ret = np.full(len(close), np.nan)
    if len(close) > 1:
        log_ret[1:] = np.log(close[1:] / close[:-1])
    log_ret[~prev_ok] = np.nan
    volume = frame["volume"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_volume = np.where(volume > 0, np.log(volume), np.nan)
    return {"log_return_1m": pd.Series(log_ret), "log_volume_1m": pd.Series(log_volume)}


def frame_anomalies(frame: pd.DataFrame, metric_fn, *, window: int, min_periods: int,
                    threshold: float) -> pd.DataFrame:
    """Anomalies (:data:`ingest.rows.ANOMALY_COLUMNS`) of every exchange + symbol series in ``frame``.

    ``metric_fn(group) -> {metric: values}`` derives the metric series of one time-ordered group (e.g.
    :func:`candle_metrics`). Rows with a true ``_context`` column (stored history preceding the batch) feed the
    windows but are not reported. Raises nothing on empty input.
    """
    parts = []
    for (exchange, symbol), unsorted in frame.groupby(["exchange", "symbol"], sort=False):
        group = unsorted.sort_values("time")
        times = group["time"].reset_index(drop=True)
        emit_from = int(group["_context"].sum()) if "_context" in group else 0
        for metric, values in metric_fn(group).items():
            found = series_anomalies(times, values, window=window, min_periods=min_periods,
                                     threshold=threshold, emit_from=emit_from)
            parts.append(found.assign(exchange=exchange, symbol=symbol, metric=metric))
    if not parts:
        return pd.DataFrame(columns=list(ANOMALY_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(ANOMALY_COLUMNS)]


def funding_metrics(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """``{"funding_rate": …}`` for one symbol's time-ordered settled funding rows."""
    return {"funding_rate": frame["funding_rate"].astype("float64").reset_index(drop=True)}


def premium_metrics(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """``{"premium": (mark − index) / index}`` for one symbol's predicted-funding snapshots (fraction)."""
    mark = frame["mark_price"].astype("float64")
    index = frame["index_price"].astype("float64")
    return {"premium": ((mark - index) / index).reset_index(drop=True)}
