"""The view (:class:`ViewState`) and its round trip through the URL query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from app.format import FUNDING_MODES
from app.params import utc_time
from db.queries import ANOMALY_METRICS
from db.symbols import SymbolError, display_symbol, normalize_symbol

#: Range presets: name -> length. The range ends now (live) or at the anchored ``end``.
PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
CUSTOM = "custom"
DEFAULT_RANGE = "24h"

#: Auto-refresh choices in seconds (0 = off) and the default.
REFRESH_CHOICES = (0, 5, 10, 30, 60)
DEFAULT_REFRESH = 10

#: Longest custom range (the API's limit for bucketed series is of the same order).
MAX_CUSTOM_RANGE = timedelta(days=366)

#: Funding basis choices: ``auto`` (not chosen: per interval, or annualised when the selected pairs have
#: different funding intervals, see ``app.figures.funding_basis``) or one of :data:`~app.format.FUNDING_MODES`.
AUTO_FUNDING = "auto"
FUNDING_CHOICES = (AUTO_FUNDING, *FUNDING_MODES)

#: Largest minimum |z| of the anomaly filter (dimensionless).
MAX_MIN_Z = 999.0

#: Largest minimum open interest of the Markets page's filter (quote currency, USD-like).
MAX_MIN_OI = 1e13

#: Row orders of the Markets heatmap (besides a column's time, ``2026-03-01T00:00Z``: by that column's values).
HEATMAP_ORDERS = ("oi", "latest", "mean", "coin")


class QueryError(ValueError):
    """A URL parameter that cannot be used; the message names the parameter and the value."""


@dataclass(frozen=True)
class ViewState:
    """One view of the data. Empty ``exchanges``/``symbols`` mean "the defaults" (chosen by the page).

    ``end`` (aware UTC) anchors a preset range's end (``None``: live, ends now); with ``range == "custom"``
    ``start``/``end`` bound the range. ``refresh`` is seconds (0 = off); ``funding`` one of
    :data:`FUNDING_CHOICES` (``auto`` when the link or the user did not choose); ``metrics``/``min_z`` filter
    anomalies (|z|, dimensionless). The Markets page's: ``min_oi`` (least open interest of a coin, quote
    currency), ``venue`` (the heatmap's exchange; ``""``: every venue weighted by open interest) and ``order``
    (the heatmap's row order, one of :data:`HEATMAP_ORDERS` or a column's time as :func:`format_time`; ``""``:
    ``oi``).
    """

    exchanges: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    range: str = DEFAULT_RANGE
    start: datetime | None = None
    end: datetime | None = None
    refresh: int = DEFAULT_REFRESH
    funding: str = AUTO_FUNDING
    metrics: tuple[str, ...] = ()
    min_z: float = 0.0
    min_oi: float = 0.0
    venue: str = ""
    order: str = ""
    problems: tuple[str, ...] = field(default=(), compare=False)
    defaulted: bool = field(default=False, compare=False)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """``(start, end)`` of the range at ``now`` (aware UTC); a custom range without dates falls back to 24 h."""
        if self.range == CUSTOM and self.start is not None and self.end is not None:
            return self.start, self.end
        end = self.end or now
        return end - PRESETS.get(self.range, PRESETS[DEFAULT_RANGE]), end

    @property
    def live(self) -> bool:
        """True when the range ends now (no anchor, not custom)."""
        return self.range != CUSTOM and self.end is None


def parse_time(raw: str, name: str) -> datetime:
    """An ISO-8601 time (``2026-03-19T20:00Z``, ``2026-03-19``) as aware UTC; naive means UTC; years
    1970..2199 (``app.params.utc_time``, the API's rule).

    Raises :class:`QueryError` naming ``name`` when unreadable or out of range.
    """
    try:
        return utc_time(raw)
    except ValueError as exc:
        raise QueryError(f"{name}={raw!r} {exc}") from None


def format_time(value: datetime) -> str:
    """Compact ISO-8601 UTC for URLs: ``2026-03-19T20:00Z`` (seconds only when not zero; the year always has four
    digits, so :func:`parse_time` reads every value back)."""
    value = value.astimezone(UTC)
    clock = f"{value:%H:%M:%S}" if value.second else f"{value:%H:%M}"
    return f"{value.year:04d}-{value:%m-%d}T{clock}Z"


def _split(raw: str) -> list[str]:
    return [p.strip() for p in raw.split(",") if p.strip()]


def _symbols(raw: str) -> tuple[str, ...]:
    try:
        return tuple(dict.fromkeys(normalize_symbol(s) for s in _split(raw)))
    except SymbolError as exc:
        raise QueryError(f"symbols: {exc}") from exc


def _choice(raw: str, name: str, choices) -> str:
    if raw not in choices:
        raise QueryError(f"{name}={raw!r} is not one of {', '.join(map(str, choices))}")
    return raw


def _refresh(raw: str) -> int:
    return int(_choice(raw, "refresh", [str(c) for c in REFRESH_CHOICES]))


def _min_z(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise QueryError(f"min_z={raw!r} is not a number") from exc
    if not 0 <= value <= MAX_MIN_Z:
        raise QueryError(f"min_z={raw!r} must be between 0 and {MAX_MIN_Z:g}")
    return value


def _min_oi(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise QueryError(f"min_oi={raw!r} is not a number") from exc
    if not 0 <= value <= MAX_MIN_OI:
        raise QueryError(f"min_oi={raw!r} must be between 0 and {MAX_MIN_OI:g}")
    return value


def _venue(raw: str) -> str:
    if not raw.replace("_", "").isalnum():
        raise QueryError(f"venue={raw!r} is not a ccxt exchange id")
    return raw.lower()


def heatmap_order(raw: str) -> str:
    """A heatmap row order of :data:`HEATMAP_ORDERS`, or a column's time in :func:`format_time`'s form. Raises
    :class:`QueryError` naming ``order`` otherwise."""
    if raw in HEATMAP_ORDERS:
        return raw
    return format_time(parse_time(raw, "order"))


_PARSERS = {
    "exchange": ("exchanges", lambda raw: tuple(dict.fromkeys(_split(raw)))),
    "symbols": ("symbols", _symbols),
    "range": ("range", lambda raw: _choice(raw, "range", [*PRESETS, CUSTOM])),
    "start": ("start", lambda raw: parse_time(raw, "start")),
    "end": ("end", lambda raw: parse_time(raw, "end")),
    "refresh": ("refresh", _refresh),
    "funding": ("funding", lambda raw: _choice(raw, "funding", FUNDING_CHOICES)),
    "metric": ("metrics", lambda raw: tuple(dict.fromkeys(_split(raw)))),
    "min_z": ("min_z", _min_z),
    "min_oi": ("min_oi", _min_oi),
    "venue": ("venue", _venue),
    "order": ("order", heatmap_order),
}


def parse_query(query: Mapping[str, str]) -> ViewState:
    """The :class:`ViewState` of URL query parameters (module docstring). Never raises: a parameter that
    cannot be used keeps its default and is reported in ``problems`` (shown to the user); unknown
    parameters (e.g. Dash's own) are ignored. A custom range with start >= end or longer than
    :data:`MAX_CUSTOM_RANGE` falls back to the default range.
    """
    values, problems = {}, []
    for name, (attr, parse) in _PARSERS.items():
        raw = query.get(name)
        if raw is None or not str(raw).strip():
            continue
        try:
            values[attr] = parse(str(raw).strip())
        except QueryError as exc:
            problems.append(str(exc))
    state = ViewState(**values)
    if state.range == CUSTOM:
        if state.start is None or state.end is None:
            problems.append("range=custom needs both start and end")
            state = replace(state, range=DEFAULT_RANGE, start=None, end=None)
        elif not timedelta(0) < state.end - state.start <= MAX_CUSTOM_RANGE:
            problems.append(f"start must be before end and the range at most {MAX_CUSTOM_RANGE.days} days")
            state = replace(state, range=DEFAULT_RANGE, start=None, end=None)
    elif state.start is not None:
        state = replace(state, start=None)
    unknown = [m for m in state.metrics if m not in ANOMALY_METRICS]
    if unknown:  # said, not silently dropped (issue 11, item 16)
        problems.append(f"metric {', '.join(map(repr, unknown))} is not one of {', '.join(ANOMALY_METRICS)}")
        state = replace(state, metrics=tuple(m for m in state.metrics if m in ANOMALY_METRICS))
    return replace(state, problems=tuple(problems))


def to_query(state: ViewState) -> str:
    """The URL query string (without ``?``) of ``state``; defaults are left out so links stay short."""
    params: dict[str, str] = {}
    if state.exchanges:
        params["exchange"] = ",".join(state.exchanges)
    if state.symbols:
        params["symbols"] = ",".join(display_symbol(s) for s in state.symbols)
    if state.range != DEFAULT_RANGE:
        params["range"] = state.range
    if state.range == CUSTOM and state.start is not None:
        params["start"] = format_time(state.start)
    if state.end is not None:
        params["end"] = format_time(state.end)
    if state.refresh != DEFAULT_REFRESH:
        params["refresh"] = str(state.refresh)
    if state.funding != AUTO_FUNDING:
        params["funding"] = state.funding
    if state.metrics:
        params["metric"] = ",".join(state.metrics)
    if state.min_z:
        params["min_z"] = f"{state.min_z:g}"
    return urlencode({**params, **_markets_query(state)}, safe="/,:")


def _markets_query(state: ViewState) -> dict[str, str]:
    """The Markets page's URL parameters of ``state`` (defaults left out)."""
    params = {"min_oi": f"{state.min_oi:.15g}" if state.min_oi else "", "venue": state.venue, "order": state.order}
    return {k: v for k, v in params.items() if v}


#: Symbols selected when a link names none (those with data among them, in this order).
DEFAULT_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


def with_defaults(state: ViewState) -> ViewState:
    """``state`` with :data:`DEFAULT_SYMBOLS` when it names no symbol (``defaulted`` set). Chosen without a query so
    the page renders at once; when they have no data the page says so and the picker lists the symbols that have.
    Unknown names in a link are kept (and reported as without data), a link is never silently changed."""
    if state.symbols:
        return state
    return replace(state, symbols=DEFAULT_SYMBOLS, defaulted=True)
