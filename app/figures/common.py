"""What every figure builder shares: template, time layout, gaps, series arrays, markers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import numpy as np
import pandas as pd

from db.symbols import display_symbol

#: Figure template (name) and common layout (height in px).
TEMPLATE = "plotly_white"
HEIGHT = 380

#: The template as plain JSON (plotly's package data, what ``pio.templates[TEMPLATE].to_plotly_json()`` gives);
#: shared by every figure, so never mutated.
TEMPLATE_JSON = json.loads(resources.files("plotly").joinpath(f"package_data/templates/{TEMPLATE}.json").read_text())

#: Points further apart than this many expected steps are drawn as a gap.
GAP_FACTOR = 1.5

#: Date tick labels of every time axis, by tick spacing (ms, or plotly's "M1" = a month): compact formats, the
#: date on every label's second line. Plotly's own labels add a wide third part ("Jun 23, 2025") where the day
#: changes, which it does not count when spacing ticks: they collided on a 390 px phone.
DATE_TICKS = {
    "automargin": True,
    "tickformatstops": [
        {"dtickrange": [None, 1000], "value": "%H:%M:%S.%L<br>%b %-d"},
        {"dtickrange": [1000, 60_000], "value": "%H:%M:%S<br>%b %-d"},
        {"dtickrange": [60_000, 86_400_000], "value": "%H:%M<br>%b %-d"},
        {"dtickrange": [86_400_000, "M1"], "value": "%b %-d<br>%Y"},
        {"dtickrange": ["M1", "M12"], "value": "%b<br>%Y"},
        {"dtickrange": ["M12", None], "value": "%Y"},
    ],
}

#: Mode-bar buttons left out of every chart (selection tools and zoom steps the charts do not use), so the
#: upright mode bar at the right edge stays short and clear of a colour bar below it.
MODEBAR_REMOVE = ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]

#: Most anomaly markers overlaid on a funding or price chart (the largest |z|; the legend gives the total).
MAX_MARKERS = 60


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


def utc_naive(times: pd.Series) -> np.ndarray:
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


def plotly_time(value: datetime) -> str:
    """An aware datetime as plotly reads a date-axis value: ``"2025-06-20 08:00:00"`` (UTC, no zone)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def time_layout(
    yaxis_title: str, uirevision: str, window: tuple[datetime, datetime] | None = None, **extra
) -> dict:
    """The layout every time chart shares (template, height, legend above the plot, shown even for one trace since
    it names the series, UTC time axis, ``yaxis_title`` naming the unit, ``uirevision``) as a fresh dict, plus
    ``extra`` keys (which replace common ones).

    ``window`` (aware ``(start, end)``, the view's range) fixes the time axis to exactly that span, so charts of
    one view share their time axis whatever data each holds (without it the axis fits the data).
    """
    layout = {
        "template": TEMPLATE_JSON,
        "height": HEIGHT,
        "margin": {"l": 64, "r": 40, "t": 8, "b": 40},
        "showlegend": True,  # plotly hides the legend of a lone trace: it would not say which series it is
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        "modebar": {"orientation": "v", "remove": MODEBAR_REMOVE},  # right edge, clear of the legend
        "hovermode": "x unified",
        "uirevision": uirevision,
        "xaxis": {"title": {"text": "Time (UTC)"}, **DATE_TICKS},
        "yaxis": {"title": {"text": yaxis_title}},
    }
    if window is not None:
        layout["xaxis"]["range"] = [plotly_time(window[0]), plotly_time(window[1])]
    return {**layout, **extra}


def hline(y: float, line: dict) -> dict:
    """A horizontal line across the plot at ``y`` (what ``Figure.add_hline`` adds)."""
    return {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y, "line": line}


def vline(x: float, line: dict) -> dict:
    """A vertical line across the plot at ``x`` (what ``Figure.add_vline`` adds)."""
    return {"type": "line", "xref": "x", "x0": x, "x1": x, "yref": "y domain", "y0": 0, "y1": 1, "line": line}


def figure(traces: list[dict], layout: dict) -> dict:
    """The figure dict of ``traces`` and ``layout`` (not validated by plotly: the builders' output is in tests)."""
    return {"data": traces, "layout": layout}


def series_arrays(frame: pd.DataFrame, columns: tuple[str, ...]):
    """``((exchange, symbol), {"time": array, column: float array})`` per series of ``frame`` in order of first
    appearance, each sorted by time (``time`` as :func:`utc_naive`; ``settled`` stays boolean)."""
    times = utc_naive(frame["time"])
    arrays = {c: frame[c].to_numpy(dtype=bool) if c == "settled" else frame[c].to_numpy(dtype="float64",
                                                                                        na_value=np.nan)
              for c in columns}  # fmt: skip
    for key, unordered in frame.groupby(["exchange", "symbol"], sort=False).indices.items():  # first-appearance order
        rows = unordered[np.argsort(times[unordered], kind="stable")]
        yield key, {"time": times[rows], **{c: a[rows] for c, a in arrays.items()}}


def strongest(anomalies: pd.DataFrame, limit: int = MAX_MARKERS) -> pd.DataFrame:
    """The ``limit`` anomalies of largest |z| (all when fewer), in time order."""
    if len(anomalies) <= limit:
        return anomalies.sort_values("time")
    top = anomalies.assign(_absz=anomalies["z_score"].abs()).nlargest(limit, "_absz")
    return top.drop(columns="_absz").sort_values("time")


def anomaly_marker_trace(marks: pd.DataFrame, y, total: int, notes: list[str] | None = None) -> dict:
    """Red-cross marker trace of anomaly rows ``marks`` at heights ``y`` (the unit and basis of the line they
    mark); ``total`` anomalies of which these are the strongest names the legend entry; hover gives the series,
    metric, z and each mark's entry of ``notes`` (e.g. its own value, when the line shows a bucket mean)."""
    labels = [series_label(e, s) for e, s in zip(marks["exchange"], marks["symbol"], strict=True)]
    template = "%{customdata[0]}: %{customdata[1]} anomaly, z = %{customdata[2]:.2f}"
    template += "" if notes is None else "<br>%{customdata[3]}"
    notes = notes if notes is not None else [""] * len(marks)
    name = "anomaly" if total <= len(marks) else f"anomalies: {len(marks)} of {total} (largest |z|)"
    return {
        "type": "scatter",
        "x": utc_naive(marks["time"]),
        "y": np.asarray(y, dtype="float64"),
        "name": name,
        "mode": "markers",
        "marker": {"symbol": "x", "size": 10, "color": "#dc3545", "line": {"width": 1, "color": "#dc3545"}},
        "customdata": [
            list(row)
            for row in zip(labels, marks["metric"], marks["z_score"].astype(float), notes, strict=True)
        ],
        "hovertemplate": template + "<extra></extra>",
    }
