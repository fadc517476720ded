"""The feed banner on every page: says when the live feeds are behind or down, and up to when data exists.

Without it, a machine without internet showed a year-old chart under a fresh "Last updated" stamp and nothing said
the feeds were down (issue 11, item 1). The banner sits in the app shell (``app.dashboard``), above every page;
its callback runs at page load and every :data:`BANNER_REFRESH_MS`, reads ``db.queries.feed_health`` (the same
rules as ``/api/health`` and the System page: ``db.health``) through the shared cache for
``ALPHAPULSE_CACHE_LIVE_SECONDS``, so a hundred open pages cost one query per cache period.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, dcc, html
from sqlalchemy.exc import SQLAlchemyError

from app.api import connect, feed_health, settings
from app.cache import shared_cache
from app.format import utc
from db.health import Status

#: How often an open page re-checks the feeds (ms).
BANNER_REFRESH_MS = 60_000
#: Component ids (the shell holds them; tests find the banner by ``BANNER_ID``).
BANNER_ID, TICK_ID = "feed-banner", "feed-banner-tick"
#: Streams as people name them.
STREAM_NAMES = {"funding": "funding", "ohlcv": "candles"}


def banner_slot() -> html.Div:
    """The shell's banner container and its timer (empty until the first check answers)."""
    return html.Div([html.Div(id=BANNER_ID, role="status"), dcc.Interval(id=TICK_ID, interval=BANNER_REFRESH_MS)])


def feed_summary(now: datetime) -> dict:
    """``{"status": ok|degraded|down|unreachable, "data_as_of": ISO time or None, "behind": [str, …],
    "checked_at": ISO time}`` of the configured feeds at ``now`` (aware UTC), from the shared cache.
    ``data_as_of`` is the newest row time over every feed; ``behind`` names each feed not ``ok`` with its newest
    row time ("okx candles: 2026-03-05 10:00 UTC"). Never raises for an unreachable database: status
    ``unreachable``."""

    def compute() -> dict:
        with connect() as conn:
            return _summary(feed_health(conn, now), now)

    try:
        return shared_cache().get("feed_summary", compute, settings().cache_live_seconds)
    except SQLAlchemyError:
        return {"status": "unreachable", "data_as_of": None, "behind": [], "checked_at": now.isoformat()}


def _summary(health, now: datetime) -> dict:
    """:func:`feed_summary`'s dict of a ``db.queries.FeedHealth`` (its overall status by ``db.health``'s rules)."""
    feeds = health.feeds
    newest = feeds["newest_time"].dropna()
    behind = [
        f"{row.exchange} {STREAM_NAMES.get(row.stream, row.stream)}: "
        + (f"newest {utc(row.newest_time)}" if pd.notna(row.newest_time) else "no data")
        for row in feeds.itertuples()
        if row.status != Status.OK
    ]
    return {
        "status": health.status.value,
        "data_as_of": newest.max().isoformat() if len(newest) else None,
        "behind": behind,
        "checked_at": now.isoformat(),
    }


def banner(summary: dict) -> dbc.Alert | None:
    """The banner for :func:`feed_summary`'s ``summary``: none when every feed is ok."""
    checked = f"Checked at {utc(datetime.fromisoformat(summary['checked_at']), seconds=True)}."
    if summary["status"] == Status.OK:
        return None
    if summary["status"] == "unreachable":
        return _alert("danger", "Database unreachable: nothing can be shown until it is back.", checked, [])
    as_of = summary["data_as_of"]
    data = f"Data as of {utc(datetime.fromisoformat(as_of))}" if as_of else "No data stored yet"
    if summary["status"] == Status.DOWN:
        head = f"Live feeds are down. {data}: pages show the data stored up to then."
        return _alert("danger", head, checked, summary["behind"])
    return _alert("warning", f"Some feeds are behind. {data}.", checked, summary["behind"])


def _alert(color: str, head: str, checked: str, behind: list[str]) -> dbc.Alert:
    detail = [html.Summary(f"{len(behind)} feeds not live"), html.Ul([html.Li(b) for b in behind])] if behind else []
    return dbc.Alert(
        [
            html.Span(head, className="ap-banner-head"),
            html.Span([" ", checked, " ", dcc.Link("Feed status", href="/system")], className="ap-banner-checked"),
            html.Details(detail, className="ap-banner-detail") if detail else None,
        ],
        color=color,
        className="ap-feed-banner",
    )


def register_banner_callback() -> None:
    """Register the banner's callback for the Dash app being built (``app.dashboard.build_dash`` calls it once per
    app: Dash hands the callbacks registered so far to the app it sets up)."""

    @callback(Output(BANNER_ID, "children"), Input(TICK_ID, "n_intervals"))
    def _refresh(_ticks):
        return banner(feed_summary(datetime.now(UTC)))
