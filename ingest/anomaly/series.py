"""The metric series anomalies are judged on, from one symbol's time-ordered rows.

Each function returns ``{metric: (judged, scale)}``: ``judged`` the series in the metric's judged unit
(:mod:`ingest.anomaly.specs`), ``scale`` the factor from it to the stored unit (``anomalies.value``): the funding
interval in hours for ``funding_rate`` (judged per hour, stored per interval as the exchange publishes it), 1
otherwise. Both positional, as long as the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Series = dict[str, tuple[pd.Series, pd.Series]]


def _ones(n: int) -> pd.Series:
    return pd.Series(np.ones(n))


def candle_metrics(frame: pd.DataFrame) -> Series:
    """``log_return_1m`` (ln(close_t / close_{t−1}), NaN across a gap: the previous candle is not exactly one
    minute earlier) and ``log_volume_1m`` (ln of the base-asset volume, NaN for a zero-volume minute: volume is
    roughly log-normal) of one symbol's time-ordered 1-minute candles."""
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
    n = len(close)
    return {"log_return_1m": (pd.Series(log_ret), _ones(n)), "log_volume_1m": (pd.Series(log_volume), _ones(n))}


def funding_interval_hours(frame: pd.DataFrame) -> pd.Series:
    """Funding interval (hours) of each settled row: ``funding_interval_hours`` where the exchange gave it, else
    the time since the previous settlement (the next one's for the first row); NaN when neither is known."""
    times = pd.to_datetime(frame["time"], utc=True).reset_index(drop=True)
    gaps = times.diff().dt.total_seconds() / 3600.0
    gaps = gaps.fillna(gaps.shift(-1))
    given = pd.to_numeric(
        frame.get("funding_interval_hours", pd.Series(np.nan, index=frame.index)), errors="coerce"
    ).reset_index(drop=True)
    return given.where(given > 0, gaps.where(gaps > 0)).astype("float64")


def funding_metrics(frame: pd.DataFrame) -> Series:
    """``funding_rate`` of one symbol's time-ordered settled rows, judged per hour (rate ÷ interval hours)."""
    hours = funding_interval_hours(frame)
    rate = frame["funding_rate"].astype("float64").reset_index(drop=True)
    return {"funding_rate": (rate / hours, hours)}


def premium_metrics(frame: pd.DataFrame) -> Series:
    """``premium`` = (mark − index) / index (fraction) of one symbol's predicted-funding snapshots."""
    mark = frame["mark_price"].astype("float64")
    index = frame["index_price"].astype("float64")
    premium = ((mark - index) / index).reset_index(drop=True)
    return {"premium": (premium, _ones(len(premium)))}
