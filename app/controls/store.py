"""The view as control values and as the JSON of a ``dcc.Store`` (and back), and the window caption."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from app import inputs
from app.controls.state import (
    AUTO_FUNDING,
    CUSTOM,
    DEFAULT_RANGE,
    FUNDING_CHOICES,
    MAX_CUSTOM_RANGE,
    MAX_MIN_OI,
    MAX_MIN_Z,
    PRESETS,
    REFRESH_CHOICES,
    QueryError,
    ViewState,
    format_time,
    heatmap_order,
    to_query,
)
from app.format import span_label, utc
from app.inputs import InputError
from app.params import utc_time


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
        "min_oi": state.min_oi, "venue": state.venue, "order": state.order,
    }  # fmt: skip


def initial_store(state: ViewState) -> dict:
    """The ``{prefix}-state`` store of a freshly rendered page: exactly what the controls will produce (a custom
    range is whole UTC days, as the date picker shows it)."""
    return state_to_store(state_from_controls(control_values(state)))


def date_bounds(start_date, end_date) -> tuple[datetime, datetime] | None:
    """A DatePickerRange's inclusive dates -> ``[start 00:00, end + 1 day 00:00)`` UTC, or None if incomplete or
    reversed. Raises :class:`~app.inputs.InputError` for a value that is not a date string of 1970..2199."""
    start = inputs.time(start_date, "start_date", _day)
    end = inputs.time(end_date, "end_date", _day)
    if start is None or end is None:
        return None
    end += timedelta(days=1)
    return (start, end) if start < end else None


def _day(raw: str) -> datetime:
    return utc_time(raw[:10])


def state_from_controls(values: Mapping[str, object]) -> ViewState:
    """A :class:`ViewState` of the control values of one page (keys: ``exchanges``, ``symbols``, ``range``,
    ``start_date``, ``end_date``, ``anchor``, ``refresh``, ``funding``, ``metrics``, ``min_z``, ``min_oi``,
    ``venue``, ``order``; missing or ``None`` values take the defaults). ``min_z`` and ``min_oi`` are clamped to
    the URL's ranges (0 … 999, 0 … 1e13).

    Raises :class:`~app.inputs.InputError` for a value of the wrong type or outside its choices.
    """
    rng = inputs.choice(values.get("range"), "range", [*PRESETS, CUSTOM], DEFAULT_RANGE)
    start = end = None
    if rng == CUSTOM:
        bounds = date_bounds(values.get("start_date"), values.get("end_date"))
        if bounds is None:
            rng = DEFAULT_RANGE
        else:
            start, end = bounds
    else:
        end = inputs.time(values.get("anchor"), "anchor", utc_time)
    min_z = inputs.number(values.get("min_z"), "min_z", -math.inf, math.inf, 0.0)
    return ViewState(
        exchanges=tuple(inputs.text_list(values.get("exchanges"), "exchanges")),
        symbols=tuple(inputs.text_list(values.get("symbols"), "symbols")),
        range=rng,
        start=start,
        end=end,
        refresh=int(inputs.choice(values.get("refresh"), "refresh", REFRESH_CHOICES, 0)),
        funding=inputs.choice(values.get("funding"), "funding", FUNDING_CHOICES, AUTO_FUNDING),
        metrics=tuple(inputs.text_list(values.get("metrics"), "metrics")),
        min_z=min(max(min_z, 0.0), MAX_MIN_Z),
        min_oi=min(max(inputs.number(values.get("min_oi"), "min_oi", -math.inf, math.inf, 0.0), 0.0), MAX_MIN_OI),
        venue=inputs.text(values.get("venue"), "venue") or "",
        order=_order(values.get("order")),
    )


def _order(value) -> str:
    """A heatmap order from a control or store value (``""`` when absent); raises :class:`~app.inputs.InputError`."""
    raw = inputs.text(value, "order") or ""
    try:
        return heatmap_order(raw) if raw else ""
    except QueryError as exc:
        raise InputError(str(exc)) from None


def state_to_store(state: ViewState) -> dict:
    """JSON form of ``state`` for a ``dcc.Store`` (times as ISO strings) plus its ``query`` string."""
    return {
        "exchanges": list(state.exchanges), "symbols": list(state.symbols), "range": state.range,
        "start": format_time(state.start) if state.start else None,
        "end": format_time(state.end) if state.end else None,
        "refresh": state.refresh, "funding": state.funding, "metrics": list(state.metrics), "min_z": state.min_z,
        "min_oi": state.min_oi, "venue": state.venue, "order": state.order,
        "query": to_query(state),
    }  # fmt: skip


#: Keys of a view store (:func:`state_to_store`).
STORE_KEYS = ("exchanges", "symbols", "range", "start", "end", "refresh", "funding", "metrics", "min_z", "min_oi",
              "venue", "order", "query")


def state_from_store(data) -> ViewState:
    """Inverse of :func:`state_to_store`. Raises :class:`~app.inputs.InputError` when ``data`` is not such a store
    (a key missing, a value of the wrong type, a custom range that is empty, reversed or too long)."""
    data = inputs.mapping(data, "view store", STORE_KEYS)
    inputs.text(data["query"], "query")
    state = ViewState(
        exchanges=tuple(inputs.text_list(data["exchanges"], "exchanges")),
        symbols=tuple(inputs.text_list(data["symbols"], "symbols")),
        range=inputs.choice(data["range"], "range", [*PRESETS, CUSTOM], DEFAULT_RANGE),
        start=inputs.time(data["start"], "start", utc_time),
        end=inputs.time(data["end"], "end", utc_time),
        refresh=int(inputs.choice(data["refresh"], "refresh", REFRESH_CHOICES, 0)),
        funding=inputs.choice(data["funding"], "funding", FUNDING_CHOICES, AUTO_FUNDING),
        metrics=tuple(inputs.text_list(data["metrics"], "metrics")),
        min_z=inputs.number(data["min_z"], "min_z", 0.0, MAX_MIN_Z, 0.0),
        min_oi=inputs.number(data["min_oi"], "min_oi", 0.0, MAX_MIN_OI, 0.0),
        venue=inputs.text(data["venue"], "venue") or "",
        order=_order(data["order"]),
    )
    if state.range == CUSTOM and not (
        state.start and state.end and timedelta(0) < state.end - state.start <= MAX_CUSTOM_RANGE
    ):
        raise InputError(f"a custom range needs start before end, at most {MAX_CUSTOM_RANGE.days} days apart")
    return state


def window_text(start: datetime, end: datetime, bucket: timedelta, live: bool) -> str:
    """``"2026-03-18 20:00 → 2026-03-19 20:00 UTC · 24 h in 1 min buckets · live"``."""
    tail = " · live" if live else " · fixed range"
    return f"{utc(start)[:-4]} → {utc(end)} · {span_label(end - start)} in {span_label(bucket)} buckets{tail}"
