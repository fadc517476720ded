"""Robust z-scores on trailing windows (no look-ahead): median and 1.4826 × MAD, with a spread floor.

For an observation ``x_t`` of one series the window is the ``window`` observations *before* it; the current point
is never part of its own window. ``centre`` = median, ``spread = max(1.4826 × MAD, floor)`` with MAD =
median(|x_i − median|) over the window (1.4826 = 1/Φ⁻¹(3/4) makes it a consistent estimator of σ for normal
data; ``scipy.stats.median_abs_deviation(scale="normal")``). The floor is the metric's resolution
(:mod:`ingest.anomaly.specs`): a funding rate sitting on its neutral base rate has a MAD of 0, and a z-score of
hundreds from such a near-constant series says nothing (Iglewicz & Hoaglin, *How to Detect and Handle Outliers*,
1993, on the MAD's breakdown for discrete data).

The MAD has no rolling form, so it is computed exactly (numpy, over the window's values) only for candidates:
with q₃₀, q₇₀ the window's 30 % and 70 % quantiles, at least ~60 % of the window lies outside (q₃₀, q₇₀), so
MAD ≥ d = min(median − q₃₀, q₇₀ − median), hence |z| ≤ |x − median| / max(1.4826 d, floor). Points below the
threshold by that bound are skipped; the result equals the exhaustive computation (tested).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

#: 1 / Φ⁻¹(0.75): scales the MAD to a standard deviation for normal data (scipy's ``scale="normal"``).
MAD_SCALE = 1.4826
#: Safety margin on the MAD lower bound of the prefilter (floating point).
_BOUND_MARGIN = 0.999


def trailing_robust(values: pd.Series, window: int, min_periods: int, floor: float = 0.0) -> pd.DataFrame:
    """Columns ``centre`` (median), ``spread`` (max(1.4826 × MAD, ``floor``)), ``z`` for every position of
    ``values``, exhaustively (numpy median over each trailing window). NaN where fewer than ``min_periods``
    finite values precede a position, or the spread is 0. Used by tests and small series."""
    centre = values.shift(1).rolling(window, min_periods=min_periods).median()
    idx = np.flatnonzero(centre.notna().to_numpy())
    spread = pd.Series(np.nan, index=values.index)
    spread.iloc[idx] = robust_spread(values.to_numpy(dtype="float64"), idx, window, centre.to_numpy()[idx], floor)
    spread = spread.where(spread > 0)
    return pd.DataFrame({"centre": centre, "spread": spread, "z": (values - centre) / spread})


def robust_spread(
    x: np.ndarray, idx: np.ndarray, window: int, medians: np.ndarray, floor: float, block: int = 20_000
) -> np.ndarray:
    """max(1.4826 × MAD, ``floor``) of the ``window`` values before each position in ``idx`` (NaNs ignored),
    around ``medians`` (same length as ``idx``); metric's unit."""
    padded = np.concatenate([np.full(window, np.nan), x])
    views = sliding_window_view(padded, window)  # views[i] = x[i-window:i]
    out = np.empty(len(idx))
    for start in range(0, len(idx), block):
        sel = idx[start : start + block]
        dev = np.abs(views[sel] - medians[start : start + block, None])
        out[start : start + block] = np.maximum(MAD_SCALE * _row_nanmedian(dev), floor)
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


def robust_candidates(
    values: pd.Series, window: int, min_periods: int, threshold: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(positions, medians)`` of the observations whose robust |z| may reach ``threshold`` (the quantile
    prefilter of the module docstring; a superset of the anomalies, never missing one)."""
    prior = values.shift(1).rolling(window, min_periods=min_periods)
    median = prior.median().to_numpy()
    lo = prior.quantile(0.3).to_numpy()
    hi = prior.quantile(0.7).to_numpy()
    x = values.to_numpy(dtype="float64")
    bound = np.maximum(_BOUND_MARGIN * MAD_SCALE * np.minimum(median - lo, hi - median), _BOUND_MARGIN * floor)
    with np.errstate(invalid="ignore"):
        candidate = np.isfinite(x) & np.isfinite(median) & (np.abs(x - median) >= threshold * bound)
    idx = np.flatnonzero(candidate)
    return idx, median[idx]


def robust_anomalies(
    values: pd.Series, window: int, min_periods: int, threshold: float, floor: float = 0.0
) -> pd.DataFrame:
    """Positions of ``values`` whose robust |z| ≥ ``threshold``: columns ``pos``, ``value``, ``centre``,
    ``spread``, ``z`` (metric's unit; z dimensionless). Exact (module docstring). Raises nothing."""
    idx, median = robust_candidates(values, window, min_periods, threshold, floor)
    x = values.to_numpy(dtype="float64")
    spread = robust_spread(x, idx, window, median, floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x[idx] - median) / spread
        hit = (spread > 0) & (np.abs(z) >= threshold)
    return pd.DataFrame(
        {"pos": idx[hit], "value": x[idx][hit], "centre": median[hit], "spread": spread[hit], "z": z[hit]}
    )
