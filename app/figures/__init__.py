"""Pure figure builders: DataFrames (as ``db.queries`` returns them) -> plotly figure dicts
``{"data": [trace dicts], "layout": {...}}``, which ``dcc.Graph`` takes as they are.

One module per chart subject (``common``: template, layout, gaps, markers; ``colours``: the colour of each
series; ``funding``, ``prices``, ``anomalies``, ``system``); this package re-exports the builders. No Dash, no
database, no clock: the same input gives the same figure, so the builders are easy to test and cheap to call from
callbacks.
Conventions shared by every builder:

* the time axis is UTC and labelled so; every y axis names its unit;
* a gap in the data stays a gap: :func:`with_gaps` puts a NaN point where consecutive points are further
  apart than 1.5 expected steps, and every line trace has ``connectgaps=False``;
* a series' colour depends only on its exchange and coin (:func:`series_colour`), the same on every chart;
* charts of one view span its window exactly (``window=(start, end)``), whatever data each holds;
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
  ``funding_interval_hours`` (hours), optional ``rows`` (settlements per bucket);
* prices: ``time, exchange, symbol, open, high, low, close`` (quote currency), ``volume``;
* anomalies: ``time, exchange, symbol, metric, method, value, centre, spread, z_score``.
"""

from __future__ import annotations

from app.figures.anomalies import Z_COLORSCALE, anomaly_scatter
from app.figures.colours import series_colour
from app.figures.common import (
    GAP_FACTOR,
    HEIGHT,
    MAX_MARKERS,
    TEMPLATE,
    TEMPLATE_JSON,
    empty_figure,
    series_label,
    strongest,
    with_gaps,
)
from app.figures.funding import funding_basis, funding_figure, settled_spans
from app.figures.prices import price_figure
from app.figures.system import STATUS_COLOURS, feed_lag_figure, metric_figure

__all__ = [
    "GAP_FACTOR", "HEIGHT", "MAX_MARKERS", "STATUS_COLOURS", "TEMPLATE", "TEMPLATE_JSON", "Z_COLORSCALE",
    "anomaly_scatter", "empty_figure", "feed_lag_figure", "funding_basis", "funding_figure", "metric_figure",
    "price_figure", "series_colour", "series_label", "settled_spans", "strongest", "with_gaps",
]  # fmt: skip
