"""Volatility-scaled observations: exponentially weighted mean and variance over a trailing window.

For an observation ``x_t`` the weights of the ``window`` observations before it are ``w_k = λ^(k−1)``
(k = 1 the latest), ``λ = 0.5^(1/half_life)``: RiskMetrics' exponentially weighted variance (J.P. Morgan/Reuters,
*RiskMetrics — Technical Document*, 1996, §5.2.1), truncated at the window so a batch with ``window`` stored
observations of context gives exactly the z-scores of the whole history (the weight beyond 4 half-lives is 6 %).
``mean = Σ w_k x_{t−k} / Σ w_k``; ``variance = Σ w_k (x_{t−k} − c)² / Σ w_k`` around ``c`` = 0 for returns
(RiskMetrics' zero-mean assumption) or the weighted mean otherwise; ``z = (x_t − c) / max(√variance, floor)``.
Calm and volatile regimes are judged against their own recent volatility, so neither floods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _trailing_sum(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``out[t] = Σ_{k=1..W} kernel[k−1] · values[t−k]`` (the current position excluded)."""
    full = np.convolve(values, np.concatenate([[0.0], kernel]))
    return full[: len(values)]


def trailing_ewma(
    values: pd.Series, window: int, min_periods: int, half_life: float, floor: float, zero_centre: bool
) -> pd.DataFrame:
    """Columns ``centre``, ``spread`` (≥ ``floor``), ``z`` for each position of ``values`` (metric's unit; z
    dimensionless). NaN where fewer than ``min_periods`` finite values precede it in the window or the value is
    NaN. ``zero_centre`` centres on 0 (returns). Raises ``ValueError`` for ``window < 1`` or ``half_life <= 0``."""
    if window < 1 or half_life <= 0:
        raise ValueError(f"window must be >= 1 and half_life > 0, got {window}, {half_life}")
    x = values.to_numpy(dtype="float64")
    finite = np.isfinite(x)
    x0 = np.where(finite, x, 0.0)
    weights = 0.5 ** (np.arange(window) / half_life)
    total = _trailing_sum(finite.astype("float64"), weights)
    count = _trailing_sum(finite.astype("float64"), np.ones(window))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _trailing_sum(x0, weights) / total
        square = _trailing_sum(x0 * x0, weights) / total
        centre = np.zeros(len(x)) if zero_centre else mean
        variance = square - 2 * centre * mean + centre * centre
        spread = np.maximum(np.sqrt(np.maximum(variance, 0.0)), floor)
    ok = count >= min_periods - 0.5
    centre = np.where(ok, centre, np.nan)
    spread = np.where(ok, spread, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - centre) / spread
    return pd.DataFrame({"centre": centre, "spread": spread, "z": z}, index=values.index)
