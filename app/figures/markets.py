"""Charts of the Markets page (issue 8, items 6 and 9): the settled history of one coin's funding spread between
two venues, and per-pair line charts (premium in bp, open interest in quote value).

Inputs (UTC ``time`` as tz-aware datetimes):

* spread: ``db.queries.markets.spread_history`` — ``time, long_annualised, short_annualised, spread_annualised``
  (fractions per year: each leg's settled rate × 8,760 / its own funding interval in hours; spread = short − long);
* pair series: ``time, exchange, symbol`` and a value column — ``premium_bp`` of ``db.queries.premium
  .premium_series`` ((mark − index) / index in bp) or ``open_interest_value`` of ``db.queries.open_interest_series``
  (quote currency).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from app.figures.colours import series_colour
from app.figures.common import figure, hline, series_arrays, series_label, time_layout, utc_naive, with_gaps

#: Axis titles (units) of the pair charts, by value column.
PAIR_AXES = {
    "premium_bp": "Premium (mark − index) / index (bp)",
    "open_interest_value": "Open interest (quote value, USD/USDT/USDC)",
}
#: Axis title of the spread chart.
SPREAD_AXIS = "Funding, annualised (% per year)"
#: Colours of the spread chart's legs (long, short) and of the spread itself.
LEG_COLOURS = {"long": "#1f77b4", "short": "#d62728", "spread": "#2ca02c"}


def spread_figure(frame: pd.DataFrame, coin: str, long_exchange: str, short_exchange: str, uirevision: str,
                  window: tuple[datetime, datetime] | None = None) -> dict:
    """The settled history of ``coin``'s spread: each leg's annualised funding and the spread (short − long, what
    holding long on ``long_exchange`` and short on ``short_exchange`` earned per year at each settlement), in %/yr,
    as lines through the settlement times; a zero line. Raises ``KeyError`` for a frame without the columns."""
    ordered = frame.sort_values("time")
    times = utc_naive(ordered["time"])
    legs = (
        ("long", "long_annualised", f"long leg: {coin} · {long_exchange}", "dot"),
        ("short", "short_annualised", f"short leg: {coin} · {short_exchange}", "dot"),
        ("spread", "spread_annualised", f"spread (short − long): {coin}", "solid"),
    )
    traces = [
        {"type": "scatter", "mode": "lines", "x": times, "y": ordered[col].to_numpy(dtype="float64") * 100,
         "name": name, "connectgaps": False,
         "line": {"color": LEG_COLOURS[key], "dash": dash, "width": 2.5 if key == "spread" else 1.5},
         "hovertemplate": "%{y:+.2f} %/yr<extra>" + name + "</extra>"}
        for key, col, name, dash in legs
    ]  # fmt: skip
    layout = time_layout(SPREAD_AXIS, uirevision, window)
    layout["shapes"] = [hline(0.0, {"color": "#adb5bd", "width": 1})]
    return figure(traces, layout)


def pair_figure(frame: pd.DataFrame, column: str, bucket: timedelta, uirevision: str,
                window: tuple[datetime, datetime] | None = None) -> dict:
    """One line per exchange + symbol of ``frame``'s ``column`` (a key of :data:`PAIR_AXES`, whose title names
    the unit) over bucket starts ``bucket`` apart (longer jumps are gaps); colours by exchange and coin
    (:func:`~app.figures.series_colour`), ``meta`` naming the pair so the dark theme recolours it. A premium chart
    gets a zero line. Raises ``KeyError`` for an unknown ``column``."""
    title = PAIR_AXES[column]
    digits = ".2f" if column == "premium_bp" else ",.0f"
    traces = []
    for (exchange, symbol), arrays in series_arrays(frame, (column,)):
        x, y = with_gaps(arrays["time"], bucket, arrays[column])
        label = series_label(exchange, symbol)
        traces.append({
            "type": "scatter", "mode": "lines", "x": x, "y": np.asarray(y, dtype="float64"), "name": label,
            "connectgaps": False, "meta": {"exchange": exchange, "symbol": symbol},
            "line": {"color": series_colour(exchange, symbol), "width": 1.5},
            "hovertemplate": f"%{{y:{digits}}}<extra>{label}</extra>",
        })  # fmt: skip
    layout = time_layout(title, uirevision, window)
    if column == "premium_bp":
        layout["shapes"] = [hline(0.0, {"color": "#adb5bd", "width": 1})]
    return figure(traces, layout)
