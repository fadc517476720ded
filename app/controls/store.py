"""The view as control values and as the JSON of a ``dcc.Store`` (and back), and the window caption."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from app.controls.state import CUSTOM, DEFAULT_RANGE, ViewState, format_time, parse_time, to_query
from app.format import span_label, utc


def control_values(state: ViewState) -> dict:
    """The values the controls of :func:`control_bar` start with for ``state`` (keys of
    :func:`state_from_controls`)."""
    custom = state.range == CUSTOM and state.start is not None and state.end is not None
    return {
        "exchanges": list(state.exchanges), "symbols": list(state.symbols), "range": state.range,
        "start_date": state.start.date().isoformat() if custom else None,
        "end_date": (state.end - timedelta(days=1)).date().isoformat() if custom else None,
        "anchor": format_time(state.end) if state.end and not custom else None,
        "refresh": state.refresh, "funding": state.funding, "metrics": list(state.metrics), "min_z": state.min_z,
    }  # fmt: skip


def initial_store(state: ViewState) -> dict:
    """The ``{prefix}-state`` store of a freshly rendered page: exactly what the controls will produce (a custom
    range is whole UTC days, as the date picker shows it)."""
    return state_to_store(state_from_controls(control_values(state)))


def date_bounds(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime] | None:
    """A DatePickerRange's inclusive dates -> ``[start 00:00, end + 1 day 00:00)`` UTC, or None if incomplete."""
    if not start_date or not end_date:
        return None
    start = parse_time(start_date[:10], "start")
    end = parse_time(end_date[:10], "end") + timedelta(days=1)
    return (start, end) if start < end else None


def state_from_controls(values: Mapping[str, object]) -> ViewState:
    """A :class:`ViewState` of the control values of one page (keys: ``exchanges``, ``symbols``, ``range``,
    ``start_date``, ``end_date``, ``anchor``, ``refresh``, ``funding``, ``metrics``, ``min_z``)."""
    rng = values.get("range") or DEFAULT_RANGE
    start = end = None
    if rng == CUSTOM:
        bounds = date_bounds(values.get("start_date"), values.get("end_date"))
        if bounds is None:
            rng = DEFAULT_RANGE
        else:
            start, end = bounds
    elif values.get("anchor"):
        end = parse_time(str(values["anchor"]), "end")
    return ViewState(
        exchanges=tuple(values.get("exchanges") or ()),
        symbols=tuple(values.get("symbols") or ()),
        range=rng,
        start=start,
        end=end,
        refresh=int(values.get("refresh") or 0),
        funding=str(values.get("funding") or "interval"),
        metrics=tuple(values.get("metrics") or ()),
        min_z=float(values.get("min_z") or 0.0),
    )


def state_to_store(state: ViewState) -> dict:
    """JSON form of ``state`` for a ``dcc.Store`` (times as ISO strings) plus its ``query`` string."""
    return {
        "exchanges": list(state.exchanges), "symbols": list(state.symbols), "range": state.range,
        "start": format_time(state.start) if state.start else None,
        "end": format_time(state.end) if state.end else None,
        "refresh": state.refresh, "funding": state.funding, "metrics": list(state.metrics), "min_z": state.min_z,
        "query": to_query(state),
    }  # fmt: skip


def state_from_store(data: Mapping) -> ViewState:
    """Inverse of :func:`state_to_store`."""
    return ViewState(
        exchanges=tuple(data["exchanges"]), symbols=tuple(data["symbols"]), range=data["range"],
        start=parse_time(data["start"], "start") if data["start"] else None,
        end=parse_time(data["end"], "end") if data["end"] else None,
        refresh=int(data["refresh"]), funding=data["funding"], metrics=tuple(data["metrics"]),
        min_z=float(data["min_z"]),
    )  # fmt: skip


def window_text(start: datetime, end: datetime, bucket: timedelta, live: bool) -> str:
    """``"2026-03-18 20:00 → 2026-03-19 20:00 UTC · 24 h in 1 min buckets · live"``."""
    tail = " · live" if live else " · fixed range"
    return f"{utc(start)[:-4]} → {utc(end)} · {span_label(end - start)} in {span_label(bucket)} buckets{tail}"

