"""The anomalies page's z-score scatter."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from plotly.colors import sequential

from app.figures.common import figure, hline, series_label, time_layout, utc_naive

#: Colour scale of |z| on the anomalies page (light = just over threshold, dark = extreme): plotly's
#: ``YlOrRd`` spread evenly over [0, 1], as plotly expands the name.
Z_COLORSCALE = [[i / (len(sequential.YlOrRd) - 1), colour] for i, colour in enumerate(sequential.YlOrRd)]


#: Height (px) of the |z| colour bar, at the bottom of the plot: the scatter is 420 px tall and the mode bar
#: (``MODEBAR_REMOVE`` applied) about 130 px, from the top.
COLORBAR_PX = 170


def anomaly_scatter(
    anomalies: pd.DataFrame, uirevision: str, window: tuple[datetime, datetime] | None = None
) -> dict:
    """Anomalies over time: y = z-score (dimensionless), marker size and colour by |z|, one marker symbol per
    metric; hover shows exchange, symbol, metric, method, value, centre, spread (metric's unit) and z.
    ``window``: the view's ``(start, end)``, the time axis' span. The |z| colour bar sits in the lower part of
    the right margin, clear of Plotly's mode bar (upright in the upper part, :func:`time_layout`)."""
    size_ref = max(float(anomalies["z_score"].abs().max()), 1.0) if not anomalies.empty else 1.0
    traces = [
        _anomaly_metric_trace(metric, part, i, size_ref)
        for i, (metric, part) in enumerate(anomalies.groupby("metric", sort=True))
    ]
    layout = time_layout(
        "z-score (dimensionless)", uirevision, window, hovermode="closest",
        shapes=[hline(0, {"color": "#adb5bd", "width": 1})],
    )  # fmt: skip
    return figure(traces, layout)


def _anomaly_metric_trace(metric: str, part: pd.DataFrame, i: int, size_ref: float) -> dict:
    """The marker trace of one metric's anomalies (the ``i``-th metric) on :func:`anomaly_scatter`."""
    symbols = ("circle", "diamond", "square", "triangle-up", "star")
    z = part["z_score"].to_numpy(dtype="float64")
    absz = np.abs(z)
    labels = [series_label(e, s) for e, s in zip(part["exchange"], part["symbol"], strict=True)]
    return {
        "type": "scatter",
        "x": utc_naive(part["time"]),
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
            "colorbar": {"title": {"text": "|z|"}, "thickness": 12, "lenmode": "pixels", "len": COLORBAR_PX,
                         "y": 0, "yanchor": "bottom"},  # fmt: skip
            "line": {"width": 0.5, "color": "#495057"},
        },
        "customdata": [
            list(row)
            for row in zip(
                labels,
                part["method"],
                part["value"].astype(float),
                part["centre"].astype(float),
                part["spread"].astype(float),
                strict=True,
            )
        ],
        "hovertemplate": (
            "%{customdata[0]}<br>" + metric + " (%{customdata[1]})<br>value %{customdata[2]:.6g}"
            "<br>centre %{customdata[3]:.6g}<br>spread %{customdata[4]:.6g}<br>z = %{y:.2f}<extra></extra>"
        ),
    }
