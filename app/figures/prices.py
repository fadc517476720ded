"""The price chart: candlesticks for one series, % change lines for several, anomaly markers."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from app.figures.colours import series_colour
from app.figures.common import (
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
from db.symbols import quote_currency


def price_figure(
    prices: pd.DataFrame,
    bucket: timedelta,
    uirevision: str,
    anomalies: pd.DataFrame | None = None,
    anomaly_total: int | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> dict:
    """Price chart: candlesticks (quote currency) when ``prices`` holds one exchange + symbol, else one line per
    series (its colour from :func:`~app.figures.colours.series_colour`, as on the funding chart) of the % change
    of ``close`` from the series' first bucket's ``close`` in the range, so each line starts at 0. Anomalies of
    any metric of a shown series are red crosses at that bucket's close (the :data:`MAX_MARKERS` of largest |z|;
    ``anomaly_total`` as in :func:`funding_figure`). ``bucket`` is the candle width (gap detection); ``window``
    the view's ``(start, end)``, the time axis' span (:func:`~app.figures.common.time_layout`).
    """
    series = list(series_arrays(prices, ("open", "high", "low", "close")))
    if len(series) == 1:
        quote = quote_currency(series[0][0][1])
        traces, y_title, shapes, base = [_candles(*series[0])], f"Price ({quote})", [], None
    else:
        traces, y_title, base = [], "Change since range start (%)", {}
        for (exchange, symbol), data in series:
            base[(exchange, symbol)] = float(data["close"][0])
            x, close = with_gaps(data["time"], bucket, data["close"])
            traces.append({
                "type": "scatter",
                "x": x,
                "y": (close / base[(exchange, symbol)] - 1) * 100,
                "name": series_label(exchange, symbol),
                "mode": "lines",
                "line": {"color": series_colour(exchange, symbol), "width": 1.8},
                "connectgaps": False,
                "meta": {"exchange": exchange, "symbol": symbol},
                "hovertemplate": "%{y:+.2f} %<extra>%{fullData.name}</extra>",
            })  # fmt: skip
        shapes = [hline(0, {"color": "#adb5bd", "width": 1})]
    marks = _price_anomalies(series, anomalies, base, anomaly_total)
    if marks is not None:
        traces.append(marks)
    layout = time_layout(y_title, uirevision, window, **({"shapes": shapes} if shapes else {}))
    layout["xaxis"]["rangeslider"] = {"visible": False}
    if base is not None:
        layout["yaxis"]["ticksuffix"] = " %"
    return figure(traces, layout)


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


def _price_anomalies(series: list, anomalies: pd.DataFrame | None, base: dict | None, total: int | None) -> dict | None:
    """The marker trace of the strongest anomalies (any metric) of the shown series, each at the close of the
    last bucket at or before it (in % change from ``base`` when given), or None when there are none."""
    if anomalies is None or anomalies.empty or not series:
        return None
    total, marks = max(total or 0, len(anomalies)), strongest(anomalies)
    mark_times = utc_naive(marks["time"])
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
    return anomaly_marker_trace(marks.iloc[rows], np.concatenate(closes), total)
