"""The funding-rate chart: settled rates as steps over the intervals they pay for, predicted snapshots as dotted
lines, per interval or annualised, with anomaly markers on the line they mark."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from app.figures.colours import series_colour
from app.figures.common import (
    GAP_FACTOR,
    anomaly_marker_trace,
    figure,
    hline,
    series_arrays,
    series_label,
    strongest,
    time_layout,
    utc_naive,
    with_gaps,
)
from app.format import FUNDING_MODES, annualise, span_label

_FUNDING_AXIS = {
    "interval": "Funding rate (% per funding interval)",
    "annual": "Funding rate, annualised (% per year)",
}
_UNIT = {"interval": "% per interval", "annual": "% / yr"}


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


def _hours(hours: np.ndarray) -> np.ndarray:
    """Funding intervals (float hours, NaN = unknown, taken as 0) as ``timedelta64[ms]``."""
    return np.round(np.nan_to_num(np.asarray(hours, dtype="float64"), nan=0.0) * 3_600_000).astype("timedelta64[ms]")


def settled_spans(times: np.ndarray, hours: np.ndarray, bucket: timedelta) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)`` (``datetime64``) of the time each settled funding point pays for.

    A point is a bucket (``times``: bucket starts, ``bucket`` wide) of settlements of interval ``hours`` (NaN:
    unknown, taken as 0). A settlement pays the rate for the interval that ends at it (Binance, Bybit, OKX and
    Hyperliquid all compute it over that interval and settle at its end), so a bucket narrower than the interval
    (one settlement, at about the bucket start ``b``) stands for ``[b − h, b]``, and a bucket holding several
    settlements (their mean) for the intervals they end, ``[b − h, b − h + bucket]``: in both cases
    ``[b − h, b − h + max(bucket, h)]``.
    """
    h = _hours(hours)
    starts = times - h
    return starts, starts + np.maximum(h, np.timedelta64(bucket))


def settled_steps(times, values, hours, bucket: timedelta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step-line coordinates ``(x, y, row)`` of settled funding points (``times`` sorted bucket starts, ``values``
    in the chart's unit, ``hours`` their intervals): each point's span (:func:`settled_spans`) as a horizontal
    segment through both ends, so hovering anywhere on it reads its value; consecutive spans meet in a vertical
    edge, and a span that starts more than ``GAP_FACTOR`` span lengths after the previous one started leaves a
    gap (a NaN point at the previous end). ``row`` is the input index of each point (-1 at gap points)."""
    starts, ends = settled_spans(times, hours, bucket)
    n = len(starts)
    x = np.empty(2 * n, dtype=starts.dtype)
    x[0::2], x[1::2] = starts, ends
    y = np.repeat(np.asarray(values, dtype="float64"), 2)
    row = np.repeat(np.arange(n), 2)
    gaps = np.flatnonzero(np.diff(starts) > (ends - starts)[:-1] * GAP_FACTOR) if n > 1 else np.array([], int)
    at = 2 * (gaps + 1)
    return np.insert(x, at, ends[gaps]), np.insert(y, at, np.nan), np.insert(row, at, -1)


def _settled_trace(key, data: dict, mode: str, bucket: timedelta) -> dict:
    exchange, symbol = key
    times, hours = data["time"], data["funding_interval_hours"]
    x, y, row = settled_steps(times, _funding_values(data["funding_rate"], hours, mode), hours, bucket)
    stamps = pd.DatetimeIndex(times).strftime("%Y-%m-%d %H:%M UTC").tolist()  # plain lists: one lookup per point
    settlements, hours = data["rows"].tolist(), hours.tolist()
    notes = [
        ""
        if i < 0
        else f"mean of {settlements[i]:.0f} settled in the {span_label(bucket)} from {stamps[i]}"
        if settlements[i] > 1
        else f"settled {stamps[i]} for the {hours[i]:g} h before"
        for i in row
    ]
    return {
        **_series_trace(exchange, symbol, True, x, y),
        "line": {"color": series_colour(exchange, symbol), "width": 2, "dash": "solid", "shape": "hv"},
        "mode": "lines",
        "customdata": notes,
        "hovertemplate": "%{y:.4f} % (%{customdata})<extra>%{fullData.name}</extra>",
    }


def _predicted_trace(key, data: dict, mode: str, bucket: timedelta) -> dict:
    exchange, symbol = key
    x, rate, hours = with_gaps(data["time"], bucket, data["funding_rate"], data["funding_interval_hours"])
    return {
        **_series_trace(exchange, symbol, False, x, _funding_values(rate, hours, mode)),
        "line": {"color": series_colour(exchange, symbol), "width": 1.5, "dash": "dot"},
        "mode": "lines",
        "hovertemplate": "%{y:.4f} % (predicted)<extra>%{fullData.name}</extra>",
    }


def _series_trace(exchange: str, symbol: str, settled: bool, x, y) -> dict:
    return {
        "type": "scatter",
        "x": x,
        "y": y,
        "name": f"{series_label(exchange, symbol)} ({'settled' if settled else 'predicted'})",
        "connectgaps": False,
        "meta": {"exchange": exchange, "symbol": symbol, "settled": settled},
    }


def funding_figure(
    funding: pd.DataFrame,
    mode: str,
    bucket: timedelta,
    uirevision: str,
    anomalies: pd.DataFrame | None = None,
    anomaly_total: int | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> dict:
    """Funding-rate chart: one colour per exchange + symbol (:func:`~app.figures.colours.series_colour`, the
    same as on the price chart); settled rates a solid step over the time each pays for
    (:func:`settled_spans`), current (predicted) snapshots a dotted line; a bold zero line; ``funding_rate``
    anomalies as red crosses on the settled line of their series (the :data:`MAX_MARKERS` of largest |z| among
    ``anomalies``; ``anomaly_total``, default their count, is the number the legend says they were chosen from).

    ``funding``: ``db.queries.funding_series`` rows (``rows`` = settlements per bucket, 1 when absent).
    ``mode``: ``"interval"`` (% per funding interval) or ``"annual"`` (% per year, each row annualised with
    its ``funding_interval_hours``). ``bucket`` is the query's time-bucket width (the spacing of predicted
    snapshots; settled buckets may hold several settlements). ``window``: the view's ``(start, end)``, the time
    axis' span (:func:`~app.figures.common.time_layout`). Raises ``ValueError`` on an unknown mode.
    """
    if mode not in FUNDING_MODES:
        raise ValueError(f"unknown funding mode {mode!r}; expected one of {FUNDING_MODES}")
    if "rows" not in funding.columns:
        funding = funding.assign(rows=1)
    traces, settled_series = [], {}
    columns = ("settled", "funding_rate", "funding_interval_hours", "rows")
    for key, data in series_arrays(funding, columns):
        for settled, build in ((True, _settled_trace), (False, _predicted_trace)):
            rows = data["settled"] == settled
            if rows.any():
                part = {c: v[rows] for c, v in data.items()}
                traces.append(build(key, part, mode, bucket))
                if settled:
                    settled_series[key] = part
    marks = _funding_anomalies(settled_series, anomalies, mode, bucket, anomaly_total)
    if marks is not None:
        traces.append(marks)
    layout = time_layout(_FUNDING_AXIS[mode], uirevision, window, shapes=[hline(0, {"color": "#212529", "width": 1.5})])
    layout["yaxis"]["ticksuffix"] = " %"
    return figure(traces, layout)


def _funding_anomalies(
    settled: dict, anomalies: pd.DataFrame | None, mode: str, bucket: timedelta, total: int | None
) -> dict | None:
    """The marker trace of the strongest ``funding_rate`` anomalies, or None when there are none.

    A marker sits on the line it marks: at the value of its series' settled bucket that holds it (in a 1-day
    view the day's mean, as the line shows it); one outside every drawn bucket is placed at its own rate
    (annualised with its ``interval_hours`` when present) and its hover says so. Hover gives the settled rate.
    """
    if anomalies is None or anomalies.empty:
        return None
    marks = anomalies[anomalies["metric"] == "funding_rate"]
    if marks.empty:
        return None
    total, marks = max(total or 0, len(marks)), strongest(marks)
    own_hours = marks["interval_hours"] if "interval_hours" in marks.columns else pd.Series(np.nan, marks.index)
    raw = _funding_values(marks["value"], own_hours, mode)
    y, notes = raw.copy(), []
    times = utc_naive(marks["time"])
    width = np.timedelta64(bucket)
    for i, key in enumerate(zip(marks["exchange"], marks["symbol"], strict=True)):
        data = settled.get(key)
        at = np.searchsorted(data["time"], times[i], side="right") - 1 if data is not None else -1
        on_line = at >= 0 and times[i] - data["time"][at] < width
        if on_line:
            y[i] = _funding_values(data["funding_rate"][at : at + 1], data["funding_interval_hours"][at : at + 1],
                                   mode)[0]  # fmt: skip
        where = "" if on_line and y[i] == raw[i] else " (marker on the bucket mean)" if on_line else " (raw value)"
        notes.append(f"settled {raw[i]:.4f} {_UNIT[mode]}{where}")
    return anomaly_marker_trace(marks, y, total, notes)


def funding_basis(choice: str, funding: pd.DataFrame) -> tuple[str, str]:
    """``(mode, note)``: the display mode (one of :data:`~app.format.FUNDING_MODES`) for the basis ``choice``
    (``"auto"``, ``"interval"`` or ``"annual"``) and the pairs in ``funding`` (``db.queries.funding_series``
    rows), with a short note for beside the control saying why (or ``""``).

    ``auto`` is per interval when every pair has the same funding interval (each pair's last known one), and
    annualised when they differ: rates per 1 h and per 8 h on one axis compare unlike numbers (ARCHITECTURE:
    annualise with the symbol's own interval, or compare annualised). An explicit ``interval`` with differing
    intervals keeps the choice and says so. Raises ``ValueError`` for another ``choice``.
    """
    if choice not in ("auto", *FUNDING_MODES):
        raise ValueError(f"unknown funding basis {choice!r}; expected auto or one of {FUNDING_MODES}")
    known = funding.dropna(subset=["funding_interval_hours"])
    last = known.groupby(["exchange", "symbol"], sort=False)["funding_interval_hours"].last()
    hours = sorted(set(last.astype(float)))
    differ = len(hours) > 1
    names = [f"{h:g} h" for h in hours]
    listed = " and ".join([", ".join(names[:-1]), names[-1]] if differ else names)
    if choice == "auto":
        if differ:
            return "annual", f"Annualised: the selected pairs settle funding every {listed}; rates per interval " \
                             "of different lengths do not compare."  # fmt: skip
        return "interval", f"Per interval: every selected pair settles every {listed}." if hours else ""
    if choice == "interval" and differ:
        return "interval", f"Intervals differ ({listed}): per-interval rates do not compare; annualised does."
    return choice, ""
