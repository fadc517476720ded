"""The funding-rate chart (settled and predicted rates, per interval or annualised)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from app.figures.common import (
    PALETTE,
    anomaly_marker_trace,
    figure,
    hline,
    series_arrays,
    series_label,
    strongest,
    time_layout,
    with_gaps,
)
from app.format import FUNDING_MODES, annualise

_FUNDING_AXIS = {
    "interval": "Funding rate (% per funding interval)",
    "annual": "Funding rate, annualised (% per year)",
}


def _funding_values(rates, intervals, mode: str) -> np.ndarray:
    """Funding rates (fraction per interval) in percent for display ``mode``; ``annual`` annualises each value
    with its own ``intervals`` (hours; NaN where unknown), as :func:`app.format.annualise`."""
    if mode not in FUNDING_MODES:
        raise ValueError(f"unknown funding mode {mode!r}; expected one of {FUNDING_MODES}")
    rates = np.asarray(rates, dtype="float64")
    if mode == "annual":
        hours = np.asarray(intervals, dtype="float64")
        factor = np.full(len(rates), np.nan)
        for h in np.unique(hours[~np.isnan(hours)]):
            factor[hours == h] = annualise(1.0, float(h))
        rates = rates * factor
    return rates * 100


def _funding_trace(key, i: int, settled: bool, data: dict, mode: str, bucket: timedelta) -> dict:
    exchange, symbol = key
    interval = data["funding_interval_hours"]
    known = interval[~np.isnan(interval)]
    step = max(bucket, timedelta(hours=float(known[-1]))) if settled and len(known) else bucket
    x, rate, hours = with_gaps(data["time"], step, data["funding_rate"], interval)
    kind = "settled" if settled else "predicted"
    colour = PALETTE[i % len(PALETTE)]
    return {
        "type": "scatter",
        "x": x,
        "y": _funding_values(rate, hours, mode),
        "name": f"{series_label(exchange, symbol)} ({kind})",
        "mode": "lines+markers" if settled else "lines",
        "line": {"color": colour, "width": 2 if settled else 1.5, "dash": "solid" if settled else "dot"},
        "marker": {"size": 5},
        "connectgaps": False,
        "meta": {"exchange": exchange, "symbol": symbol, "settled": settled},
        "hovertemplate": "%{y:.4f} %<extra>%{fullData.name}</extra>",
    }


def funding_figure(
    funding: pd.DataFrame,
    mode: str,
    bucket: timedelta,
    uirevision: str,
    anomalies: pd.DataFrame | None = None,
    anomaly_total: int | None = None,
) -> dict:
    """Funding-rate chart: one colour per exchange + symbol; settled rates solid with dots, current
    (predicted) snapshots dotted; a bold zero line; ``funding_rate`` anomalies as red crosses (the
    :data:`MAX_MARKERS` of largest |z| among ``anomalies``; ``anomaly_total``, default their count, is the number
    the legend says they were chosen from).

    ``mode``: ``"interval"`` (% per funding interval) or ``"annual"`` (% per year, each row annualised with
    its ``funding_interval_hours``). ``bucket`` is the query's time-bucket width: the expected spacing of
    predicted snapshots; settled rates are expected every funding interval. Raises ``ValueError`` on an
    unknown mode.
    """
    if mode not in FUNDING_MODES:
        raise ValueError(f"unknown funding mode {mode!r}; expected one of {FUNDING_MODES}")
    traces = []
    columns = ("settled", "funding_rate", "funding_interval_hours")
    for i, (key, data) in enumerate(series_arrays(funding, columns)):
        for settled in (True, False):
            rows = data["settled"] == settled
            if rows.any():
                part = {c: v[rows] for c, v in data.items()}
                traces.append(_funding_trace(key, i, settled, part, mode, bucket))
    marks = _funding_anomalies(funding, anomalies, mode, anomaly_total)
    if marks is not None:
        traces.append(marks)
    layout = time_layout(_FUNDING_AXIS[mode], uirevision, shapes=[hline(0, {"color": "#212529", "width": 1.5})])
    layout["yaxis"]["ticksuffix"] = " %"
    return figure(traces, layout)


def _funding_anomalies(
    funding: pd.DataFrame, anomalies: pd.DataFrame | None, mode: str, total: int | None
) -> dict | None:
    """The marker trace of the strongest ``funding_rate`` anomalies (each annualised with its series' last
    known interval), or None when there are none."""
    if anomalies is None or anomalies.empty:
        return None
    marks = anomalies[anomalies["metric"] == "funding_rate"]
    if marks.empty:
        return None
    total, marks = max(total or 0, len(marks)), strongest(marks)
    known = funding.dropna(subset=["funding_interval_hours"])
    intervals = dict(
        zip(zip(known["exchange"], known["symbol"], strict=True), known["funding_interval_hours"], strict=True)
    )  # the last row of each series wins
    hours = [intervals.get(key, np.nan) for key in zip(marks["exchange"], marks["symbol"], strict=True)]
    return anomaly_marker_trace(marks, _funding_values(marks["value"], hours, mode), total)
