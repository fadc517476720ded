"""The notices of a view without data in its window (Overview and Anomalies): what the window lacks, where data is,
and one button (``{prefix}-jump``) to the newest period that has what the page shows (issue 11, item 2).

Each notice is the tuple a page's draw callback writes to ``({prefix}-empty.is_open, {prefix}-empty-text.children,
{prefix}-jump.children, {prefix}-jump.style, {prefix}-newest.data)``; the control callbacks move the view's end to
the ``{prefix}-newest`` anchor when the button is clicked.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from dash import html

from app import format as fmt
from app.controls import DEFAULT_RANGE, PRESETS
from db.symbols import display_symbol

#: The notice closed (a view with data).
EMPTY_NOTICE_CLOSED = (False, "", "", {"display": "none"}, None)


def empty_notice(state, start: datetime, end: datetime, extent: tuple[datetime, datetime] | None,
                 newest: datetime | None = None):
    """What an empty range shows: ``(open, text, button label, button style, anchor)``.

    ``state`` is the :class:`app.controls.ViewState`, ``[start, end)`` the empty window (aware UTC), ``extent``
    ``db.queries.data_extent`` of the selection (None: no data at all), ``newest`` where the button jumps to
    (default: the extent's end; the Overview passes ``db.queries.newest_common_time``, where funding and candles
    both have data, the Anomalies page the newest matching anomaly). The anchor (ISO UTC) is ``newest`` rounded
    up to the next whole minute, so the jumped-to range (end exclusive) includes it; the button keeps the range's
    length (a custom range jumps to the default preset).
    """
    names = ", ".join(display_symbol(s) for s in state.symbols) or "the selection"
    if extent is None:
        text = [
            html.Strong(f"There is no data for {names} yet. "),
            "Pick other symbols in the symbol box (it lists those with data), or start the ingest worker "
            "(make run) or load the bundled history; this page refreshes by itself.",
        ]
        return True, text, "", {"display": "none"}, None
    first, last = (t.astimezone(end.tzinfo) for t in extent)
    target = (newest or last).astimezone(end.tzinfo)
    length = PRESETS.get(state.range, PRESETS[DEFAULT_RANGE])
    where = "before" if last < start else "after"
    text = [
        html.Strong(f"No data for {names} between {fmt.utc(start)} and {fmt.utc(end)}."),
        html.Br(),
        f"This selection has data from {fmt.utc(first)} to {fmt.utc(last)}, "
        f"{fmt.duration(start - last if where == 'before' else first - end)} {where} this range.",
    ]
    label = f"Show the {fmt.span_label(length)} up to {fmt.utc(target)}"
    return True, text, label, {}, jump_anchor(target)


def jump_anchor(newest: datetime) -> str:
    """The ``end`` (ISO UTC) of a range that includes ``newest``: the next whole minute after it (ends are
    exclusive)."""
    return (newest.replace(second=0, microsecond=0) + pd.Timedelta(minutes=1)).isoformat()


def fallback_notice(state, start: datetime, end: datetime, shown_end: datetime, what: str):
    """The notice of a live view with no data in its window that shows the newest period with data instead
    (issue 11, item 2): ``(open, text, button label, button style, anchor)`` like :func:`empty_notice`; ``what``
    says what the shown period has ("funding and candles", "anomalies matching these filters")."""
    length = fmt.span_label(PRESETS.get(state.range, PRESETS[DEFAULT_RANGE]))
    text = [
        html.Strong(f"No data between {fmt.utc(start)} and {fmt.utc(end)}: the live feeds are down or behind."),
        html.Br(),
        f"Showing the newest {length} with {what} instead, up to {fmt.utc(shown_end)}. "
        "This page returns to live data by itself when it arrives.",
    ]
    return True, text, f"Stay on the {length} up to {fmt.utc(shown_end)}", {}, shown_end.isoformat()


def anomaly_notice(state, start: datetime, end: datetime, newest: datetime):
    """The notice of an Anomalies window in which no anomaly matches the filters while an older or newer one does:
    the button jumps to the range of the same length ending just after ``newest`` (the newest match)."""
    length = fmt.span_label(PRESETS.get(state.range, PRESETS[DEFAULT_RANGE]))
    text = [
        html.Strong(f"No anomalies match these filters between {fmt.utc(start)} and {fmt.utc(end)}."),
        html.Br(),
        f"The newest one that does is at {fmt.utc(newest)}.",
    ]
    return True, text, f"Show the {length} up to {fmt.utc(newest)}", {}, jump_anchor(newest)
