"""Pure figure builders: DataFrames (as ``db.queries`` returns them) -> plotly figure dicts
``{"data": [trace dicts], "layout": {...}}``, which ``dcc.Graph`` takes as they are.

No Dash, no database, no clock: the same input gives the same figure, so the builders are easy to test
and cheap to call from callbacks. Conventions shared by every builder:

* the time axis is UTC and labelled so; every y axis names its unit;
* a gap in the data stays a gap: :func:`with_gaps` puts a NaN point where consecutive points are further
  apart than 1.5 expected steps, and every line trace has ``connectgaps=False``;
* ``uirevision`` is set from the caller's view key, so a refresh with new data keeps the user's zoom and
  legend choices, while a different selection (symbols, range) resets them.

Every builder assembles plain trace/layout dicts from numpy arrays (times as UTC ``datetime64`` without a
zone, what plotly itself sends for tz-aware times) and never touches ``plotly.graph_objects``: plotly's property
validation (~20 ms for the template alone) and per-trace pandas filtering made up most of a chart callback
(30-45 ms of ~50 ms), and the graph_objects classes, validators and narwhals they load added ~21 MB to each
gunicorn worker. The plotly_white template is read once from plotly's package data as plain JSON. The JSON sent
to the browser is what plotly's validated figures give (tests/test_figures_fast.py and tests/test_ui_units.py
pass every builder's output through ``go.Figure``, which rejects unknown properties, and compare the JSON).

Input columns (UTC ``time`` as tz-aware datetimes):

* funding: ``time, exchange, symbol, settled, funding_rate`` (fraction per interval),
  ``funding_interval_hours`` (hours);
* prices: ``time, exchange, symbol, open, high, low, close`` (quote currency), ``volume``;
* anomalies: ``time, exchange, symbol, metric, method, value, centre, spread, z_score``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources

import numpy as np
import pandas as pd
from plotly.colors import sequential

from app.format import FUNDING_MODES, annualise
from db.symbols import display_symbol

#: Figure template (name) and common layout (height in px).
TEMPLATE = "plotly_white"
HEIGHT = 380

#: The template as plain JSON (plotly's package data, what ``pio.templates[TEMPLATE].to_plotly_json()`` gives);
#: shared by every figure, so never mutated.
TEMPLATE_JSON = json.loads(resources.files("plotly").joinpath(f"package_data/templates/{TEMPLATE}.json").read_text())

#: Points further apart than this many expected steps are drawn as a gap.
GAP_FACTOR = 1.5

#: A qualitative palette (colour-blind safe, Okabe-Ito) cycled over series.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: Most anomaly markers overlaid on a funding or price chart (the largest |z|; the legend gives the total).
MAX_MARKERS = 60

#: Colour scale of |z| on the anomalies page (light = just over threshold, dark = extreme): plotly's
#: ``YlOrRd`` spread evenly over [0, 1], as plotly expands the name.
Z_COLORSCALE = [[i / (len(sequential.YlOrRd) - 1), colour] for i, colour in enumerate(sequential.YlOrRd)]

_FUNDING_AXIS = {
    "interval": "Funding rate (% per funding interval)",
    "annual": "Funding rate, annualised (% per year)",
}


def series_label(exchange: str, symbol: str) -> str:
    """Legend label of one series: ``"BTC/USDT · binanceusdm"``."""
    return f"{display_symbol(symbol)} · {exchange}"


def empty_figure(message: str, height: int = HEIGHT) -> dict:
    """A blank figure dict ``height`` px tall that shows ``message`` in its centre (axes hidden)."""
    return {"data": [], "layout": {
        "template": TEMPLATE_JSON,
        "height": height,
        "margin": {"l": 16, "r": 16, "t": 16, "b": 16},
        "xaxis": {"visible": False},
        "yaxis": {"visible": False},
        "annotations": [{"text": message, "showarrow": False, "font": {"size": 15, "color": "#6c757d"}}],
    }}  # fmt: skip


def _utc_naive(times: pd.Series) -> np.ndarray:
    """UTC ``datetime64`` array (no zone) of a datetime column: what plotly sends for tz-aware times."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(None).to_numpy()


def with_gaps(times: np.ndarray, step: timedelta, *values) -> tuple[np.ndarray, ...]:
    """``(times, *values)`` with a gap point after each jump longer than ``GAP_FACTOR × step``, so a line trace
    breaks there: ``times`` (sorted ``datetime64``) gets ``time + step`` and each of ``values`` (float arrays of
    the same length) NaN at the inserted positions. Without jumps the inputs come back unchanged.

    Raises ``ValueError`` for a non-positive ``step``.
    """
    if step <= timedelta(0):
        raise ValueError(f"step must be positive, got {step!r}")
    jumps = np.flatnonzero(np.diff(times) > np.timedelta64(step * GAP_FACTOR)) if len(times) > 1 else []
    if not len(jumps):
        return (times, *values)
    at = jumps + 1
    filled = np.insert(times, at, times[jumps] + np.timedelta64(step))
    return (filled, *(np.insert(np.asarray(v, dtype="float64"), at, np.nan) for v in values))


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


def _layout(yaxis_title: str, uirevision: str, **extra) -> dict:
    """The layout every time chart shares (template, height, legend above the plot, UTC time axis, ``yaxis_title``
    naming the unit, ``uirevision``) as a fresh dict, plus ``extra`` keys (which replace common ones)."""
    layout = {
        "template": TEMPLATE_JSON,
        "height": HEIGHT,
        "margin": {"l": 64, "r": 40, "t": 8, "b": 40},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        "modebar": {"orientation": "v"},  # on the right edge, clear of the legend above the plot
        "hovermode": "x unified",
        "uirevision": uirevision,
        "xaxis": {"title": {"text": "Time (UTC)"}},
        "yaxis": {"title": {"text": yaxis_title}},
    }
    return {**layout, **extra}


def _hline(y: float, line: dict) -> dict:
    """A horizontal line across the plot at ``y`` (what ``Figure.add_hline`` adds)."""
    return {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y, "line": line}


def _vline(x: float, line: dict) -> dict:
    """A vertical line across the plot at ``x`` (what ``Figure.add_vline`` adds)."""
    return {"type": "line", "xref": "x", "x0": x, "x1": x, "yref": "y domain", "y0": 0, "y1": 1, "line": line}


def _figure(traces: list[dict], layout: dict) -> dict:
    """The figure dict of ``traces`` and ``layout`` (not validated by plotly: the builders' output is in tests)."""
    return {"data": traces, "layout": layout}


def _series(frame: pd.DataFrame, columns: tuple[str, ...]):
    """``((exchange, symbol), {"time": array, column: float array})`` per series of ``frame`` in order of first
    appearance, each sorted by time (``time`` as :func:`_utc_naive`; ``settled`` stays boolean)."""
    times = _utc_naive(frame["time"])
    arrays = {c: frame[c].to_numpy(dtype=bool) if c == "settled" else frame[c].to_numpy(dtype="float64",
                                                                                        na_value=np.nan)
              for c in columns}  # fmt: skip
    for key, unordered in frame.groupby(["exchange", "symbol"], sort=False).indices.items():  # first-appearance order
        rows = unordered[np.argsort(times[unordered], kind="stable")]
        yield key, {"time": times[rows], **{c: a[rows] for c, a in arrays.items()}}


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
    funding: pd.DataFrame, mode: str, bucket: timedelta, uirevision: str, anomalies: pd.DataFrame | None = None,
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
    for i, (key, data) in enumerate(_series(funding, columns)):
        for settled in (True, False):
            rows = data["settled"] == settled
            if rows.any():
                part = {c: v[rows] for c, v in data.items()}
                traces.append(_funding_trace(key, i, settled, part, mode, bucket))
    marks = _funding_anomalies(funding, anomalies, mode, anomaly_total)
    if marks is not None:
        traces.append(marks)
    layout = _layout(_FUNDING_AXIS[mode], uirevision, shapes=[_hline(0, {"color": "#212529", "width": 1.5})])
    layout["yaxis"]["ticksuffix"] = " %"
    return _figure(traces, layout)


def _funding_anomalies(funding: pd.DataFrame, anomalies: pd.DataFrame | None, mode: str,
                       total: int | None) -> dict | None:
    """The marker trace of the strongest ``funding_rate`` anomalies (each annualised with its series' last
    known interval), or None when there are none."""
    if anomalies is None or anomalies.empty:
        return None
    marks = anomalies[anomalies["metric"] == "funding_rate"]
    if marks.empty:
        return None
    total, marks = max(total or 0, len(marks)), strongest(marks)
    known = funding.dropna(subset=["funding_interval_hours"])
    intervals = dict(zip(zip(known["exchange"], known["symbol"], strict=True), known["funding_interval_hours"],
                         strict=True))  # the last row of each series wins
    hours = [intervals.get(key, np.nan) for key in zip(marks["exchange"], marks["symbol"], strict=True)]
    return _anomaly_marker_trace(marks, _funding_values(marks["value"], hours, mode), total)


def strongest(anomalies: pd.DataFrame, limit: int = MAX_MARKERS) -> pd.DataFrame:
    """The ``limit`` anomalies of largest |z| (all when fewer), in time order."""
    if len(anomalies) <= limit:
        return anomalies.sort_values("time")
    top = anomalies.assign(_absz=anomalies["z_score"].abs()).nlargest(limit, "_absz")
    return top.drop(columns="_absz").sort_values("time")


def _anomaly_marker_trace(marks: pd.DataFrame, y, total: int) -> dict:
    labels = [series_label(e, s) for e, s in zip(marks["exchange"], marks["symbol"], strict=True)]
    name = "anomaly" if total <= len(marks) else f"anomalies: {len(marks)} of {total} (largest |z|)"
    return {
        "type": "scatter",
        "x": _utc_naive(marks["time"]),
        "y": np.asarray(y, dtype="float64"),
        "name": name,
        "mode": "markers",
        "marker": {"symbol": "x", "size": 10, "color": "#dc3545", "line": {"width": 1, "color": "#dc3545"}},
        "customdata": [list(row) for row in zip(labels, marks["metric"], marks["z_score"].astype(float),
                                                strict=True)],
        "hovertemplate": "%{customdata[0]}: %{customdata[1]} anomaly, z = %{customdata[2]:.2f}<extra></extra>",
    }


def price_figure(prices: pd.DataFrame, bucket: timedelta, uirevision: str,
                 anomalies: pd.DataFrame | None = None, anomaly_total: int | None = None) -> dict:
    """Price chart: candlesticks (quote currency) when ``prices`` holds one exchange + symbol, else one line per
    series of the % change of ``close`` from the series' first ``open`` in the range. Anomalies of any metric
    of a shown series are red crosses at that bucket's close (the :data:`MAX_MARKERS` of largest |z|;
    ``anomaly_total`` as in :func:`funding_figure`). ``bucket`` is the candle width (gap detection).
    """
    series = list(_series(prices, ("open", "high", "low", "close")))
    if len(series) == 1:
        traces, y_title, shapes, base = [_candles(*series[0])], "Price (USDT)", [], None
    else:
        traces, y_title, base = [], "Change since range start (%)", {}
        for i, ((exchange, symbol), data) in enumerate(series):
            base[(exchange, symbol)] = float(data["open"][0])
            x, close = with_gaps(data["time"], bucket, data["close"])
            traces.append({
                "type": "scatter",
                "x": x,
                "y": (close / base[(exchange, symbol)] - 1) * 100,
                "name": series_label(exchange, symbol),
                "mode": "lines",
                "line": {"color": PALETTE[i % len(PALETTE)], "width": 1.8},
                "connectgaps": False,
                "meta": {"exchange": exchange, "symbol": symbol},
                "hovertemplate": "%{y:+.2f} %<extra>%{fullData.name}</extra>",
            })  # fmt: skip
        shapes = [_hline(0, {"color": "#adb5bd", "width": 1})]
    marks = _price_anomalies(series, anomalies, base, anomaly_total)
    if marks is not None:
        traces.append(marks)
    layout = _layout(y_title, uirevision, **({"shapes": shapes} if shapes else {}))
    layout["xaxis"]["rangeslider"] = {"visible": False}
    if base is not None:
        layout["yaxis"]["ticksuffix"] = " %"
    return _figure(traces, layout)


def _candles(key, data: dict) -> dict:
    exchange, symbol = key
    return {
        "type": "candlestick",
        "x": data["time"],
        **{c: data[c] for c in ("open", "high", "low", "close")},
        "name": series_label(exchange, symbol),
        "meta": {"exchange": exchange, "symbol": symbol},
        "increasing": {"line": {"color": "#198754"}},
        "decreasing": {"line": {"color": "#dc3545"}},
    }


def _price_anomalies(series: list, anomalies: pd.DataFrame | None, base: dict | None,
                     total: int | None) -> dict | None:
    """The marker trace of the strongest anomalies (any metric) of the shown series, each at the close of the
    last bucket at or before it (in % change from ``base`` when given), or None when there are none."""
    if anomalies is None or anomalies.empty or not series:
        return None
    total, marks = max(total or 0, len(anomalies)), strongest(anomalies)
    mark_times = _utc_naive(marks["time"])
    exchanges, symbols = marks["exchange"].to_numpy(), marks["symbol"].to_numpy()
    rows, closes = [], []
    for key, data in series:
        own = np.flatnonzero((exchanges == key[0]) & (symbols == key[1]))
        at = np.searchsorted(data["time"], mark_times[own], side="right") - 1  # last bucket at or before
        found = at >= 0
        close = data["close"][at[found]]
        rows.append(own[found])
        closes.append((close / base[key] - 1) * 100 if base is not None else close)
    rows = np.concatenate(rows)
    if not len(rows):
        return None
    return _anomaly_marker_trace(marks.iloc[rows], np.concatenate(closes), total)


def anomaly_scatter(anomalies: pd.DataFrame, uirevision: str) -> dict:
    """Anomalies over time: y = z-score (dimensionless), marker size and colour by |z|, one marker symbol per
    metric; hover shows exchange, symbol, metric, method, value, centre, spread (metric's unit) and z."""
    size_ref = max(float(anomalies["z_score"].abs().max()), 1.0) if not anomalies.empty else 1.0
    traces = [_anomaly_metric_trace(metric, part, i, size_ref)
              for i, (metric, part) in enumerate(anomalies.groupby("metric", sort=True))]
    layout = _layout("z-score (dimensionless)", uirevision, hovermode="closest",
                     shapes=[_hline(0, {"color": "#adb5bd", "width": 1})])
    return _figure(traces, layout)


def _anomaly_metric_trace(metric: str, part: pd.DataFrame, i: int, size_ref: float) -> dict:
    """The marker trace of one metric's anomalies (the ``i``-th metric) on :func:`anomaly_scatter`."""
    symbols = ("circle", "diamond", "square", "triangle-up", "star")
    z = part["z_score"].to_numpy(dtype="float64")
    absz = np.abs(z)
    labels = [series_label(e, s) for e, s in zip(part["exchange"], part["symbol"], strict=True)]
    return {
        "type": "scatter",
        "x": _utc_naive(part["time"]),
        "y": z,
        "name": metric,
        "mode": "markers",
        "marker": {
            "symbol": symbols[i % len(symbols)],
            "size": 7 + 18 * absz / size_ref,
            "color": absz,
            "colorscale": Z_COLORSCALE,
            "cmin": 0,
            "cmax": size_ref,
            "showscale": i == 0,
            "colorbar": {"title": {"text": "|z|"}, "thickness": 12},
            "line": {"width": 0.5, "color": "#495057"},
        },
        "customdata": [list(row) for row in zip(labels, part["method"], part["value"].astype(float),
                                                part["centre"].astype(float), part["spread"].astype(float),
                                                strict=True)],
        "hovertemplate": (
            "%{customdata[0]}<br>" + metric + " (%{customdata[1]})<br>value %{customdata[2]:.6g}"
            "<br>centre %{customdata[3]:.6g}<br>spread %{customdata[4]:.6g}<br>z = %{y:.2f}<extra></extra>"
        ),
    }


#: Colour of each feed status on the System page.
STATUS_COLOURS = {"ok": "#198754", "degraded": "#ffc107", "down": "#dc3545"}


def feed_lag_figure(feeds: pd.DataFrame, ok_cadences: float, down_cadences: float, uirevision: str) -> dict:
    """Lag of each feed in multiples of its expected cadence (log axis), one horizontal bar per exchange +
    stream coloured by status, with dashed lines at the ``ok``/``down`` limits (``db.health``).

    ``feeds``: ``db.queries.feed_health(...).feeds`` (``exchange``, ``stream``, ``lag_seconds``,
    ``cadence_seconds``, ``status``). A feed without data is drawn at the right edge, labelled "no data".
    """
    labels = [f"{e} · {s}" for e, s in zip(feeds["exchange"], feeds["stream"], strict=True)]
    ratio = feeds["lag_seconds"] / feeds["cadence_seconds"]
    top = max(float(ratio.max()) if ratio.notna().any() else 1.0, down_cadences) * 2
    shown = ratio.fillna(top).clip(lower=0.1)
    text = ["no data" if pd.isna(r) else f"{r:,.1f}×" for r in ratio]
    bars = {
        "type": "bar",
        "x": shown.to_numpy(dtype="float64"),
        "y": labels,
        "orientation": "h",
        "marker": {"color": [STATUS_COLOURS.get(str(s), "#6c757d") for s in feeds["status"]]},
        "text": text,
        "textposition": "auto",
        "customdata": [list(row) for row in zip(feeds["lag_seconds"].astype(float),
                                                feeds["cadence_seconds"].astype(float), feeds["status"].astype(str),
                                                strict=True)],
        "hovertemplate": "%{y}: lag %{customdata[0]:,.0f} s, cadence %{customdata[1]:,.0f} s, "
        "%{customdata[2]}<extra></extra>",
    }
    limits = [_vline(limit, {"dash": "dash", "color": colour, "width": 1.5})
              for limit, colour in ((ok_cadences, STATUS_COLOURS["degraded"]), (down_cadences, STATUS_COLOURS["down"]))]
    x_title = "Lag ÷ expected cadence (×, log scale; dashed: degraded / down)"
    layout = _layout("", uirevision, shapes=limits, height=max(160, 48 * len(labels) + 70), hovermode="closest",
                     showlegend=False, xaxis={"type": "log", "title": {"text": x_title}},
                     yaxis={"title": {"text": ""}, "autorange": "reversed"})  # fmt: skip
    return _figure([bars], layout)


def metric_figure(series: pd.DataFrame, y_title: str, split_by: tuple[str, ...], uirevision: str,
                  bucket: timedelta, kind: str = "lines") -> dict:
    """One system metric over time (``db.queries.metric_series`` output), one trace per combination of the
    ``split_by`` label columns (e.g. ``("exchange", "stream")``); ``kind`` ``"lines"`` or ``"bars"`` (stacked,
    for counts). ``y_title`` names the unit. Gaps wider than 1.5 buckets stay gaps."""
    traces = []
    keys = [c for c in split_by if c in series.columns]
    groups = series.groupby(keys, dropna=False, sort=True) if keys else [((), series)]
    for i, (key, group) in enumerate(groups):
        parts = key if isinstance(key, tuple) else (key,)
        name = " · ".join(str(k) for k in parts if k is not None and not pd.isna(k)) or "all"
        ordered = group.sort_values("time")
        times = _utc_naive(ordered["time"])
        values = ordered["value"].to_numpy(dtype="float64", na_value=np.nan)
        colour = PALETTE[i % len(PALETTE)]
        if kind == "bars":
            traces.append({"type": "bar", "x": times, "y": values, "name": name, "marker": {"color": colour}})
        else:
            x, y = with_gaps(times, bucket, values)
            traces.append({"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines", "connectgaps": False,
                           "line": {"color": colour, "width": 1.6}})
    return _figure(traces, _layout(y_title, uirevision, height=280, barmode="stack"))
