"""Number and time formatting for the dashboard (pure functions, no Dash, no database).

Units follow the project's conventions: funding rates arrive as plain fractions per funding
interval (0.0001 = 0.01 % = 1 bp per interval); prices in the quote currency (USDT); times are
timezone-aware UTC datetimes or pandas Timestamps. Every formatter returns a string that carries
its unit, and ``"–"`` for a missing value (``None`` or NaN), never ``"nan"``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from db.queries.markets import annualise as per_year

#: Text shown for a value that is missing.
MISSING = "–"

#: Funding display modes: per funding interval, or annualised with the symbol's own interval.
FUNDING_MODES = ("interval", "annual")

#: (smallest magnitude, decimals) for prices: enough digits to see a 0.01 % move.
_PRICE_DIGITS = ((1000, 1), (10, 2), (1, 4), (0.01, 5))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def annualise(rate: float, interval_hours: float) -> float:
    """Annualised funding (fraction per year) from a rate per interval: ``rate × (24 / interval_hours) × 365``.

    Simple, not compounded: the convention exchanges and funding dashboards use (8 h interval:
    × 1,095). ``interval_hours`` is the symbol's own funding interval (8, 4, 1 …). Raises
    ``ValueError`` when it is not positive. NaN in, NaN out.
    """
    if not interval_hours or interval_hours <= 0 or math.isnan(interval_hours):
        raise ValueError(f"funding interval must be a positive number of hours, got {interval_hours!r}")
    return per_year(rate, interval_hours)


def pct(fraction: float | None, digits: int = 4, signed: bool = True) -> str:
    """``0.000123`` -> ``"+0.0123 %"`` (fraction shown as percent)."""
    if _missing(fraction):
        return MISSING
    sign = "+" if signed else ""
    return f"{fraction * 100:{sign},.{digits}f} %"


def bps(fraction: float | None, digits: int = 2) -> str:
    """``0.000123`` -> ``"+1.23 bp"`` (basis points: 1 bp = 0.0001 = 0.01 %)."""
    if _missing(fraction):
        return MISSING
    return f"{fraction * 10_000:+,.{digits}f} bp"


def funding_text(rate: float | None, interval_hours: float | None, mode: str) -> str:
    """A funding rate as people read it in ``mode``.

    ``"interval"``: ``"+0.0100 % / 8h (+1.00 bp)"``; ``"annual"``: ``"+10.95 % / yr"`` (annualised
    with ``interval_hours``). Missing rate or (annual) interval -> :data:`MISSING`.
    """
    if _missing(rate) or (mode == "annual" and _missing(interval_hours)):
        return MISSING
    if mode == "annual":
        return f"{pct(annualise(rate, interval_hours), digits=2)} / yr"
    interval = f" / {interval_hours:g}h" if not _missing(interval_hours) else ""
    return f"{pct(rate)}{interval} ({bps(rate)})"


def price(value: float | None) -> str:
    """Price in quote currency with precision that suits its size: ``107282.4`` -> ``"107,282.4"``,
    ``0.2134567`` -> ``"0.21346"``."""
    if _missing(value):
        return MISSING
    magnitude = abs(value)
    digits = next((d for floor, d in _PRICE_DIGITS if magnitude >= floor), 8)
    return f"{value:,.{digits}f}"


def utc(ts: datetime | None, seconds: bool = False) -> str:
    """``2026-03-19 20:00 UTC`` for an aware datetime / pandas Timestamp (converted to UTC)."""
    if ts is None:
        return MISSING
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return ts.astimezone(UTC).strftime(fmt) + " UTC"


def freshness(checked: datetime, data_as_of: datetime | None = None) -> str:
    """A page's freshness line, naming its two times for what they are (issue 11, item 1: a fresh "Last updated"
    beside year-old data misled): "Data as of <newest row> · checked at <clock>" (UTC), or only "Checked at …"
    when the newest row time is not known (yet)."""
    clock = utc(checked, seconds=True)
    return f"Data as of {utc(data_as_of)} · checked at {clock}" if data_as_of is not None else f"Checked at {clock}"


def duration(delta: timedelta | None) -> str:
    """Compact human duration: ``"2 d 3 h"``, ``"3 h 12 min"``, ``"45 s"``; negative -> ``"overdue"``."""
    if delta is None:
        return MISSING
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "overdue"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def span_label(delta: timedelta) -> str:
    """Label of a range or bucket width: ``timedelta(hours=24)`` -> ``"24 h"``, ``timedelta(minutes=5)`` ->
    ``"5 min"``, ``timedelta(days=7)`` -> ``"7 d"``."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds < 2 * 86_400):
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def anomaly_value(metric: str, value: float | None, interval_hours: float | None = None) -> str:
    """An anomaly's value (or centre) in its metric's unit for people.

    ``funding_rate`` (fraction per interval): ``"+0.0100 % / 8h (+1.00 bp) · +10.95 % / yr"`` (annualised when the
    interval is known); ``log_return_1m`` (natural log): the simple return ``exp(r) − 1`` in %;
    ``log_volume_1m`` (ln of base units): the volume ``exp(v)`` in base units; ``premium`` (fraction): basis
    points. Missing value or an unknown metric → :data:`MISSING` / the number as is.
    """
    if _missing(value):
        return MISSING
    if metric == "funding_rate":
        text = funding_text(value, interval_hours, "interval")
        return text if _missing(interval_hours) else f"{text} · {funding_text(value, interval_hours, 'annual')}"
    if metric == "log_return_1m":
        return pct(math.expm1(value), digits=3)
    if metric == "log_volume_1m":
        return f"{math.exp(value):,.4g} base units"
    if metric == "premium":
        return bps(value)
    return f"{value:.6g}"
