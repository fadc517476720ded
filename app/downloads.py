"""CSV downloads from the pages (issue 11, item 18): what each table and chart shows, in the API's CSV format.

* Tables: a button sets the AG Grid's ``exportDataAsCsv``; the grid writes its rows as shown (filtered, sorted,
  the values of the grid's columns, whose headers carry the units).
* Charts: a button sends the ``dcc.Graph``'s figure to :func:`figure_frame`, which lists every plotted point
  (one row per series and time; candlesticks as open/high/low/close), and ``dcc.Download`` saves it as CSV
  (:func:`app.serialize.csv_text`: 15 significant digits, ISO UTC times) with the chart's axis title (unit) in the
  value column's header.
"""

from __future__ import annotations

import base64
import re

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from app import inputs
from app.serialize import csv_text

#: Columns of a candlestick trace in a chart's CSV.
OHLC = ("open", "high", "low", "close")


def _values(raw) -> np.ndarray:
    """A figure array as numpy: a list, or Plotly's typed array ``{"dtype": "f8", "bdata": base64}`` (plotly.py
    encodes numpy arrays so since 6.0). Raises :class:`~app.inputs.InputError` for anything else."""
    if isinstance(raw, dict) and isinstance(raw.get("bdata"), str) and isinstance(raw.get("dtype"), str):
        try:
            return np.frombuffer(base64.b64decode(raw["bdata"]), dtype=np.dtype(raw["dtype"]))
        except (ValueError, TypeError) as exc:
            raise inputs.InputError(f"figure array: {exc}") from exc
    if isinstance(raw, list):
        return np.array([np.nan if v is None else v for v in raw], dtype=object)
    raise inputs.InputError("figure array: expected a list or a typed array")


def figure_frame(figure) -> pd.DataFrame:
    """Every plotted point of a Plotly figure dict ``{"data": [trace, …], "layout": …}``: columns ``time_utc``
    (as plotted, UTC), ``series`` (trace name; a heatmap's row name), and ``value (<y-axis title>)`` (a heatmap's
    colour bar title), or ``open``…``close`` for candlesticks.
    Points without a value (gaps) are left out, and a point drawn twice (a step drawn from both
    ends) is listed once. Raises :class:`~app.inputs.InputError` for a body that is not such a figure."""
    figure = inputs.mapping(figure, "figure", ("data",))
    unit = _colorbar_title(figure["data"]) or _axis_title(figure.get("layout"))
    value_column = f"value ({re.sub(r'<[^>]+>', ' ', unit).strip()})" if unit else "value"
    parts = []
    for trace in figure["data"] if isinstance(figure["data"], list) else []:
        if not isinstance(trace, dict) or "x" not in trace:
            continue
        if trace.get("type") == "heatmap":
            parts.append(_heatmap_frame(trace, value_column))
            continue
        frame = pd.DataFrame({"time_utc": _values(trace["x"])})
        columns = OHLC if trace.get("type") == "candlestick" else ("y",)
        for column in columns:
            frame[column] = pd.to_numeric(pd.Series(_values(trace.get(column, []))), errors="coerce")
        frame = frame.dropna(subset=list(columns), how="all").rename(columns={"y": value_column})
        frame.insert(1, "series", str(trace.get("name") or ""))
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["time_utc", "series", value_column])
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)


def _heatmap_frame(trace: dict, value_column: str) -> pd.DataFrame:
    """A heatmap's cells as rows (``time_utc`` = column, ``series`` = row name, the value), empty cells left out.
    Raises :class:`~app.inputs.InputError` when ``z`` is not rows × columns."""
    times, names = _values(trace["x"]), _values(trace.get("y", []))
    z = trace.get("z", [])
    if isinstance(z, list):
        rows = [pd.to_numeric(pd.Series(_values(r)), errors="coerce").to_numpy() for r in z]
    else:  # a typed array (plotly ≥ 6: {"dtype", "bdata", "shape"}), row-major
        flat = _values(z)
        rows = list(flat.reshape(len(names), -1)) if len(names) and flat.size % len(names) == 0 else [flat]
    if len(rows) != len(names) or any(len(r) != len(times) for r in rows):
        raise inputs.InputError("heatmap: z must hold one row per y value and one value per x value")
    frame = pd.DataFrame({"time_utc": np.tile(times, len(names)), "series": np.repeat(names, len(times)),
                          value_column: np.concatenate(rows) if rows else []})  # fmt: skip
    return frame.dropna(subset=[value_column])


def _colorbar_title(traces) -> str:
    """The colour bar title of a figure's first heatmap trace (its unit), or ``""``."""
    for trace in traces if isinstance(traces, list) else []:
        if isinstance(trace, dict) and trace.get("type") == "heatmap":
            title = (trace.get("colorbar") or {}).get("title") if isinstance(trace.get("colorbar"), dict) else None
            text = title.get("text") if isinstance(title, dict) else title
            return text.replace("<br>", " ") if isinstance(text, str) else ""
    return ""


def _axis_title(layout) -> str:
    """The y-axis title of a figure layout (``{"yaxis": {"title": {"text": …}}}`` or a plain string), or ``""``."""
    yaxis = layout.get("yaxis") if isinstance(layout, dict) else None
    title = yaxis.get("title") if isinstance(yaxis, dict) else None
    text = title.get("text") if isinstance(title, dict) else title
    return text if isinstance(text, str) else ""


def chart_download(graph_id: str) -> html.Div:
    """The "Download CSV" button of chart ``graph_id`` and its ``dcc.Download`` (wired by
    :func:`register_chart_download`)."""
    return html.Div(
        [
            dbc.Button("Download CSV", id=f"{graph_id}-csv", size="sm", color="link", className="ap-csv"),
            dcc.Download(id=f"{graph_id}-download"),
        ],
        className="ap-csv-row",
    )


def table_download(grid_id: str) -> dbc.Button:
    """The "Download CSV" button of AG Grid ``grid_id`` (wired by :func:`register_table_download`)."""
    return dbc.Button("Download CSV", id=f"{grid_id}-csv", size="sm", color="link", className="ap-csv")


def register_chart_download(graph_id: str, filename: str) -> None:
    """Save chart ``graph_id``'s points as ``<filename>.csv`` when its button is clicked (:func:`figure_frame`)."""

    @callback(
        Output(f"{graph_id}-download", "data"),
        Input(f"{graph_id}-csv", "n_clicks"),
        State(graph_id, "figure"),
        prevent_initial_call=True,
    )
    def _download(clicks, figure):
        if not clicks:
            raise PreventUpdate
        return {"content": csv_text(figure_frame(figure)), "filename": f"{filename}.csv", "type": "text/csv"}


def register_table_download(grid_id: str, filename: str) -> None:
    """Export grid ``grid_id``'s rows as shown to ``<filename>.csv`` when its button is clicked (AG Grid's
    ``exportDataAsCsv``, in the browser: no server round trip)."""

    @callback(
        Output(grid_id, "exportDataAsCsv"),
        Output(grid_id, "csvExportParams"),
        Input(f"{grid_id}-csv", "n_clicks"),
        prevent_initial_call=True,
    )
    def _export(clicks):
        if not clicks:
            raise PreventUpdate
        return True, {"fileName": f"{filename}.csv"}
