"""System page (``/system``): health of the data pipeline.

* the overall status, computed exactly as ``/api/health`` does (``db.queries.feed_health`` with the configured
  exchanges and the rules of ``db.health``), the TimescaleDB version and licence;
* feed lag per exchange + stream against its expected cadence (table and chart);
* rows written per minute, rows rejected and errors by class, fetch and write latency (``system_metrics``
  series written by ingest, bucketed with ``time_bucket``), and the newest value of every metric;
* hypertable sizes and chunk counts, as the ingest worker samples them (``hypertable_bytes`` and
  ``hypertable_chunks`` in ``system_metrics``, every ``storage_sample_seconds``): measuring them visits every chunk
  (~80 ms over a year of 1-day chunks), too slow for an opening of this page.

The time range and refresh controls are the shared ones; the lag is always "now". Redraws only when the
newest metric or data time changes (:mod:`app.refresh`).
"""

from __future__ import annotations

from datetime import datetime

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, html
from dash.exceptions import PreventUpdate
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from app import controls
from app.api import feed_health
from app.cache import CacheStats, shared_cache
from app.components import error_alert, graph, grid, status_badge
from app.downloads import chart_download, register_chart_download, register_table_download, table_download
from app.figures import empty_figure, feed_lag_figure, metric_figure
from app.format import duration, utc
from app.reads import read_all
from app.refresh import SYSTEM_TABLES, cached_view, register_refresh, resolve, start_page
from app.theme import STORE_ID, themed_outputs
from db import health, queries
from db.engine import probe_timescaledb
from db.storage import sampled_sizes

dash.register_page(__name__, path="/system", name="System", title="AlphaPulse · System", order=2)

P = "system"

#: Metric charts: (metric in ``system_metrics``, title, y-axis title with unit, label columns, agg, kind).
#: Names, units and labels are ingest's (table in ``ingest.metrics``); counters hold the increase since the
#: previous sample, so ``sum`` per bucket is the bucket's total. A metric without rows says so.
PANELS = (
    ("rows_written", "Rows written per minute", "rows / min", ("exchange", "stream"), "sum", "bars"),
    ("rows_rejected", "Rows rejected by validation, by reason", "rows per bucket", ("reason",), "sum", "bars"),
    ("fetch_errors", "Fetch errors by class", "errors per bucket", ("error",), "sum", "bars"),
    ("fetch_latency_seconds", "Fetch latency (exchange REST)", "seconds", ("exchange", "stream"), "avg", "lines"),
    ("write_latency_seconds", "Write latency (database)", "seconds", ("exchange", "stream"), "avg", "lines"),
)

#: Panels whose bucket totals are shown per minute (bucket total ÷ bucket minutes).
PER_MINUTE = {"rows_written"}


def layout(**query) -> html.Div:
    """The page for the view in ``query`` (URL parameters, see :mod:`app.controls`)."""
    start = start_page(query)
    panels = [
        html.Div([html.H2(title, className="ap-h2"),
                  html.Div([graph(f"{P}-m-{name}", 260), chart_download(f"{P}-m-{name}")], className="ap-panel")])
        for name, title, *_ in PANELS
    ]
    return html.Div(
        [
            html.H1("Pipeline health", className="ap-title"),
            controls.control_bar(P, start.state, show_funding=False, request=start.request, pickers=start.pickers),
            html.Div(id=f"{P}-status", className="ap-system-status"),
            html.Div(id=f"{P}-cache"),
            html.H2("Feeds: lag against expected cadence", className="ap-h2"),
            html.Div(id=f"{P}-feeds"),
            html.Div([graph(f"{P}-lag", 300), chart_download(f"{P}-lag")], className="ap-panel"),
            html.Div(panels, className="ap-metrics"),
            html.H2("Hypertables", className="ap-h2"),
            html.Div(id=f"{P}-sizes"),
            html.H2("Newest value of every metric", className="ap-h2"),
            table_download(f"{P}-latest"),
            grid(
                f"{P}-latest",
                (
                    ("metric", "Metric"),
                    ("labels", "Labels"),
                    ("value", "Value"),
                    ("unit", "Unit"),
                    ("time", "Time (UTC)"),
                ),
                height=300,
            ),
        ],
        className="ap-page",
    )


controls.register_callbacks(P)
register_chart_download(f"{P}-lag", "alphapulse-feed-lag")
for _name, *_ in PANELS:
    register_chart_download(f"{P}-m-{_name}", f"alphapulse-{_name}")
register_table_download(f"{P}-latest", "alphapulse-metrics-latest")


def feed_statuses(conn: Connection, now: datetime) -> list[str]:
    """``exchange/stream=status`` of every feed at ``now``: part of the page's fingerprint, so the page redraws when
    a feed changes status although no new row arrived (a stalled feed writes nothing)."""
    fh = feed_health(conn, now)
    return [f"{r.exchange}/{r.stream}={r.status}" for r in fh.feeds.itertuples(index=False)]


BASELINE = register_refresh(P, SYSTEM_TABLES, extra=feed_statuses)


def _status_block(status: str, now: datetime, info) -> html.Div:
    return html.Div(
        [
            html.Span("Pipeline status ", className="me-1"), status_badge(status),
            html.Span(f" at {utc(now, seconds=True)} · TimescaleDB {info.version} ({info.license} licence) · "
                      "same rules as /api/health", className="text-muted small ms-2"),
        ]
    )  # fmt: skip


def _feeds_table(feeds: pd.DataFrame) -> dbc.Table:
    head = html.Thead(
        html.Tr([html.Th(h) for h in ("Exchange", "Stream", "Newest data (UTC)", "Lag", "Expected cadence", "Status")])
    )
    body = html.Tbody([
        html.Tr([
            html.Td(r.exchange), html.Td(r.stream),
            html.Td(utc(r.newest_time) if pd.notna(r.newest_time) else "no data"),
            html.Td(duration(pd.Timedelta(seconds=r.lag_seconds)) if pd.notna(r.lag_seconds) else "–"),
            html.Td(f"{r.cadence_seconds:g} s"), html.Td(status_badge(str(r.status))),
        ])
        for r in feeds.itertuples(index=False)
    ])  # fmt: skip
    return dbc.Table(
        [head, body], bordered=False, hover=True, size="sm", responsive=True, className="bg-white ap-nowrap"
    )


def _sizes_table(sizes: pd.DataFrame) -> html.Div:
    if sizes.empty:
        return html.P("No storage sample yet: the ingest worker samples the hypertables' sizes every "
                      "ALPHAPULSE_STORAGE_SAMPLE_SECONDS.", className="text-muted small")  # fmt: skip
    head = html.Thead(html.Tr([html.Th("Hypertable"), html.Th("Size on disk (MB)"), html.Th("Chunks")]))
    body = html.Tbody([
        html.Tr([html.Td(r.table_name), html.Td(f"{r.total_bytes / 1e6:,.1f}"),
                 html.Td("–" if pd.isna(r.chunks) else f"{int(r.chunks):,}")])
        for r in sizes.itertuples(index=False)
    ])  # fmt: skip
    note = f"Sampled by the ingest worker at {utc(sizes['time'].max())}."
    return html.Div([dbc.Table([head, body], size="sm", responsive=True, className="bg-white ap-sizes"),
                     html.Div(note, className="text-muted small")])  # fmt: skip


def _latest_rows(latest: pd.DataFrame) -> list[dict]:
    return [
        {"metric": r["metric"], "labels": ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items())),
         "value": float(f"{r['value']:.6g}"), "unit": r["unit"], "time": r["time"].strftime("%Y-%m-%d %H:%M:%S")}
        for r in latest.to_dict("records")
    ]  # fmt: skip


DRAW_OUTPUTS = {
    "status": Output(f"{P}-status", "children"),
    "feeds": Output(f"{P}-feeds", "children"),
    "lag": Output(f"{P}-lag", "figure"),
    "sizes": Output(f"{P}-sizes", "children"),
    "latest": Output(f"{P}-latest", "rowData"),
    "window": Output(f"{P}-window", "children"),
    "panels": tuple(Output(f"{P}-m-{name}", "figure") for name, *_ in PANELS),
    "cache": Output(f"{P}-cache", "children"),
    "drawn": Output(f"{P}-drawn", "data"),
}


@callback(output=DRAW_OUTPUTS, inputs={"fp": Input(f"{P}-fp", "data"), "theme": Input(STORE_ID, "data")})
def _draw(fp, theme):
    return themed_outputs(BASELINE.with_draw(fp, lambda: _draw_view(fp)), theme, ("lag", "panels"))


def _draw_view(fp):
    if not fp:
        raise PreventUpdate
    state, start, end, bucket = resolve(fp)
    now = datetime.fromisoformat(fp["now"])
    window = controls.window_text(start, end, bucket, state.live)

    def compute():  # every read at once, each on its own connection (app.reads)
        got = read_all({
            "info": probe_timescaledb, "health": lambda conn: feed_health(conn, now), "latest": queries.latest_metrics,
            "series": lambda conn: queries.metric_series_many(conn, {name: agg for name, _, _, _, agg, _ in PANELS},
                                                              start, end, bucket),
        })  # fmt: skip
        return got["info"], got["health"], got["latest"], [got["series"][name] for name, *_ in PANELS]

    cache = cache_block(shared_cache().stats())
    try:
        info, fh, latest, series = cached_view(P, state, start, end, compute, bucket, fp.get("fp"))
    except (SQLAlchemyError, LookupError) as exc:
        blank = empty_figure("Database unreachable")
        return {
            "status": [status_badge("down"), error_alert(" Database", exc)],
            "feeds": None,
            "lag": blank,
            "sizes": None,
            "latest": [],
            "window": window,
            "panels": tuple(blank for _ in PANELS),
            "cache": cache,
        }
    minutes = bucket.total_seconds() / 60
    series = [
        frame.assign(value=frame["value"] / minutes) if name in PER_MINUTE and len(frame) else frame
        for frame, (name, *_) in zip(series, PANELS, strict=True)
    ]
    panels = tuple(
        metric_figure(frame, unit, split, fp["query"], bucket, kind, (start, end))
        if len(frame)
        else empty_figure(f"No {name} metric in this range", height=140)
        for frame, (name, _, unit, split, _, kind) in zip(series, PANELS, strict=True)
    )
    return {
        "status": _status_block(fh.status.value, now, info),
        "feeds": _feeds_table(fh.feeds),
        "lag": feed_lag_figure(fh.feeds, health.OK_CADENCES, health.DOWN_CADENCES, "feeds"),
        "sizes": _sizes_table(sampled_sizes(latest)),
        "latest": _latest_rows(latest),
        "window": window,
        "panels": panels,
        "cache": cache,
    }


def cache_block(stats: CacheStats) -> html.Div:
    """One line on the shared query cache: hit ratio and lookups (Redis counters, every worker and host)."""
    if not stats.available:
        text = "Query cache: Redis unavailable, every view queries the database"
    elif stats.ratio is None:
        text = "Query cache (Redis): no lookups yet"
    else:
        text = (
            f"Query cache (Redis): hit ratio {stats.ratio:.1%} of {stats.hits + stats.misses:,} lookups "
            f"({stats.hits:,} hits, {stats.misses:,} misses, every worker and host)"
        )
    return html.Div(text, id=f"{P}-cache-ratio", className="text-muted small")
