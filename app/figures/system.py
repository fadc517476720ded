"""Figures of the System page: feed lag against cadence, and system-metric series."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from app.figures.colours import series_colour
from app.figures.common import figure, time_layout, utc_naive, vline, with_gaps

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
        "customdata": [
            list(row)
            for row in zip(
                feeds["lag_seconds"].astype(float),
                feeds["cadence_seconds"].astype(float),
                feeds["status"].astype(str),
                strict=True,
            )
        ],
        "hovertemplate": "%{y}: lag %{customdata[0]:,.0f} s, cadence %{customdata[1]:,.0f} s, "
        "%{customdata[2]}<extra></extra>",
    }
    limits = [
        vline(limit, {"dash": "dash", "color": colour, "width": 1.5})
        for limit, colour in ((ok_cadences, STATUS_COLOURS["degraded"]), (down_cadences, STATUS_COLOURS["down"]))
    ]
    x_title = "Lag ÷ expected cadence (×, log scale; dashed: degraded / down)"
    layout = time_layout("", uirevision, shapes=limits, height=max(160, 48 * len(labels) + 70), hovermode="closest",
                     showlegend=False, xaxis={"type": "log", "title": {"text": x_title}},
                     yaxis={"title": {"text": ""}, "autorange": "reversed"})  # fmt: skip
    return figure([bars], layout)


def metric_figure(
    series: pd.DataFrame,
    y_title: str,
    split_by: tuple[str, ...],
    uirevision: str,
    bucket: timedelta,
    kind: str = "lines",
    window: tuple[datetime, datetime] | None = None,
) -> dict:
    """One system metric over time (``db.queries.metric_series`` output), one trace per combination of the
    ``split_by`` label columns (e.g. ``("exchange", "stream")``); ``kind`` ``"lines"`` or ``"bars"`` (stacked,
    for counts). ``y_title`` names the unit. Gaps wider than 1.5 buckets stay gaps. Each trace's colour depends
    only on its labels (:func:`~app.figures.colours.series_colour` of the first and last label: exchange hue,
    stream shade), and the legend shows even for one trace when the labels split the metric (it names the
    error class, the stream…). ``window``: the view's ``(start, end)``, the time axis' span."""
    traces = []
    keys = [c for c in split_by if c in series.columns]
    groups = series.groupby(keys, dropna=False, sort=True) if keys else [((), series)]
    for key, group in groups:
        parts = key if isinstance(key, tuple) else (key,)
        labels = [str(k) for k in parts if k is not None and not pd.isna(k)] or ["all"]
        name = " · ".join(labels)
        ordered = group.sort_values("time")
        times = utc_naive(ordered["time"])
        values = ordered["value"].to_numpy(dtype="float64", na_value=np.nan)
        colour = series_colour(labels[0], labels[-1])
        if kind == "bars":
            traces.append({"type": "bar", "x": times, "y": values, "name": name, "marker": {"color": colour}})
        else:
            x, y = with_gaps(times, bucket, values)
            traces.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": y,
                    "name": name,
                    "mode": "lines",
                    "connectgaps": False,
                    "line": {"color": colour, "width": 1.6},
                }
            )
    layout = time_layout(y_title, uirevision, window, height=280, barmode="stack", showlegend=bool(keys))
    return figure(traces, layout)
