"""Validation of the JSON API's query parameters: raw strings in, typed values out, or :class:`ParamError`.

Every error names the offending parameter and becomes a JSON ``{"error": …, "parameter": …}`` response
(400 for malformed values, 404 for well-formed names of exchanges/symbols that have no data) in
``app.api``; nothing here touches Flask's request or the database (the known exchange + symbol pairs are
passed in), so the rules are testable as plain functions.

Conventions: times are ISO-8601; a value without an offset (``2025-06-01`` or ``2025-06-01T08:00``) is
read as UTC; offsets are converted to UTC. Lists are comma-separated (``symbols=BTC,ETH/USDT``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.format import duration
from db.coins import coin_of, coin_of_base, is_bare_coin, symbols_of_coin
from db.queries import BUCKET_WIDTHS, MAX_POINTS
from db.symbols import SymbolError, normalize_symbol

#: Range of the history endpoints when ``start`` is not given: ``end`` minus this.
DEFAULT_RANGE = timedelta(hours=24)
#: Output formats of the history endpoints.
FORMATS = ("json", "csv")
#: Times outside ``[EARLIEST, LATEST)`` are rejected (no market data before 1970; avoids datetime overflow).
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
#: Parameters every history endpoint accepts.
HISTORY_PARAMS = frozenset({"exchange", "symbols", "start", "end", "bucket", "format"})


class ParamError(ValueError):
    """A query parameter that cannot be used: ``parameter`` names it, ``status`` is 400 or 404."""

    def __init__(self, parameter: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.status = status


@dataclass(frozen=True)
class HistoryQuery:
    """Validated parameters of a history endpoint.

    ``exchanges`` (ccxt ids) and ``symbols`` (ccxt unified) hold only names that have data; ``start`` and
    ``end`` are aware UTC datetimes with ``start < end``; ``bucket`` is a whitelisted width or ``None``
    (chosen by ``db.queries.choose_bucket``); ``fmt`` is ``json`` or ``csv``.
    """

    exchanges: tuple[str, ...]
    symbols: tuple[str, ...]
    start: datetime
    end: datetime
    bucket: timedelta | None
    fmt: str


def reject_repeated(lists: Iterable[tuple[str, list[str]]]) -> None:
    """Raise :class:`ParamError` (400) for a parameter given more than once (``(name, values)`` pairs, e.g.
    ``MultiDict.lists()``): lists are comma-separated, and silently using one of several values would mislead."""
    for name, values in lists:
        if len(values) > 1:
            raise ParamError(name, f"{name} is given {len(values)} times; give it once (lists are comma-separated)")


def reject_unknown(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Raise :class:`ParamError` (400) naming the first parameter of ``args`` not in ``allowed``."""
    allowed = set(allowed)
    for name in args:
        if name not in allowed:
            raise ParamError(name, f"unknown parameter {name!r}; accepted: {', '.join(sorted(allowed))}")


def utc_time(raw: str) -> datetime:
    """An aware UTC datetime from ISO-8601 ``raw`` (``Z`` or an offset; naive values are UTC), within
    ``[EARLIEST, LATEST)``. The one reader of times for the API and page links (:mod:`app.controls`).

    Raises ``ValueError`` whose message says what is wrong (unreadable, or outside the years) without the value,
    so callers can name the parameter. Offsets that would move a time past ``datetime``'s own years (``0001-01-01
    T00:00+01:00``) are out of range, not an ``OverflowError``.
    """
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError("is not an ISO-8601 time (e.g. 2025-06-01T08:00:00Z)") from None
    outside = ValueError(f"is outside {EARLIEST.year}..{LATEST.year - 1}")
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise outside from None
    if not EARLIEST <= value < LATEST:
        raise outside
    return value


def parse_time(name: str, raw: str) -> datetime:
    """:func:`utc_time` of ``raw`` for parameter ``name``: raises :class:`ParamError` (400) for a malformed or
    out-of-range time."""
    try:
        return utc_time(raw)
    except ValueError as exc:
        raise ParamError(name, f"{name}={raw!r} {exc}") from None


def parse_range(args: Mapping[str, str], now: datetime, max_range: timedelta) -> tuple[datetime, datetime]:
    """``(start, end)`` from ``start``/``end`` (defaults: ``end`` = ``now``, ``start`` = ``end`` − 24 h).

    Raises :class:`ParamError` (400) naming ``start`` when it is not before ``end``, and ``start`` when the
    range exceeds ``max_range``.
    """
    end = parse_time("end", args["end"]) if args.get("end") else now
    start = parse_time("start", args["start"]) if args.get("start") else end - DEFAULT_RANGE
    if start >= end:
        raise ParamError("start", f"start {start.isoformat()} must be before end {end.isoformat()}")
    if end - start > max_range:
        raise ParamError("start", f"range {duration(end - start)} is longer than the allowed {max_range.days} d")
    return start, end


def parse_bucket(raw: str | None, start: datetime, end: datetime) -> timedelta | None:
    """A whitelisted bucket width (``1m``, ``5m``, ``15m``, ``1h``, ``4h``, ``8h``, ``1d``, ``1w``) or ``None``
    (automatic; ``8h`` buckets start at 00:00, 08:00 and 16:00 UTC, the commonest funding settlements).

    Raises :class:`ParamError` (400, ``bucket``) for another value or when the range would need more than
    ``db.queries.MAX_POINTS`` buckets of that width.
    """
    if not raw:
        return None
    width = BUCKET_WIDTHS.get(raw.strip())
    if width is None:
        raise ParamError("bucket", f"bucket={raw!r} is not one of {', '.join(BUCKET_WIDTHS)}")
    if (end - start) / width > MAX_POINTS:
        raise ParamError("bucket", f"bucket={raw} gives more than {MAX_POINTS} points over this range; widen it")
    return width


def parse_format(raw: str | None) -> str:
    """``json`` (default) or ``csv``; raises :class:`ParamError` (400, ``format``) otherwise."""
    fmt = (raw or "json").strip().lower()
    if fmt not in FORMATS:
        raise ParamError("format", f"format={raw!r} is not one of {', '.join(FORMATS)}")
    return fmt


def _split(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def parse_exchanges(raw: str | None, known: Iterable[str]) -> tuple[str, ...]:
    """Exchange ids from a comma list (case-insensitive); empty or missing = every known one.

    Raises :class:`ParamError` 400 for a malformed id and 404 for one with no data (both ``exchange``).
    """
    known = sorted(set(known))
    wanted = [name.lower() for name in _split(raw)]
    for name in wanted:
        if not name.replace("_", "").isalnum():
            raise ParamError("exchange", f"exchange={name!r} is not a ccxt exchange id")
        if name not in known:
            raise ParamError("exchange", f"no data for exchange {name!r}; known: {', '.join(known)}", status=404)
    return tuple(dict.fromkeys(wanted)) or tuple(known)


def parse_symbols(raw: str | None, known: Iterable[str]) -> tuple[str, ...]:
    """Unified symbols from a comma list of any spelling ``db.symbols.normalize_symbol`` reads (``BTCUSDT``,
    ``BTC/USDT``, ``BTC/USDT:USDT``); empty or missing = every known one. A bare coin (``BTC``, ``pepe``)
    names that coin's perpetuals on every chosen venue (``db.coins.symbols_of_coin``: ``BTC/USDT:USDT``
    and Hyperliquid's ``BTC/USDC:USDC``; ``PEPE`` includes ``1000PEPE/USDT:USDT`` and ``KPEPE/USDC:USDC``).

    Raises :class:`ParamError` 400 for an unreadable symbol and 404 for one with no data (both ``symbols``).
    """
    known = set(known)
    wanted = []
    for part in _split(raw):
        if is_bare_coin(part):
            if not (found := symbols_of_coin(part, known)):
                raise ParamError("symbols", f"no data for coin {part.strip().upper()!r} on the chosen exchanges", 404)
            wanted.extend(found)
            continue
        try:
            symbol = normalize_symbol(part)
        except SymbolError as exc:
            raise ParamError("symbols", str(exc)) from None
        if symbol not in known:
            raise ParamError("symbols", f"no data for symbol {symbol!r} on the chosen exchanges", status=404)
        wanted.append(symbol)
    return tuple(dict.fromkeys(wanted)) or tuple(sorted(known))


def parse_history(
    args: Mapping[str, str],
    pairs: Iterable[tuple[str, str]],
    now: datetime,
    max_range: timedelta,
    extra: Iterable[str] = (),
) -> HistoryQuery:
    """All common history parameters of ``args`` validated against the ``pairs`` (exchange, symbol) with data.

    ``extra`` names endpoint-specific parameters the caller parses itself. Raises :class:`ParamError`.
    """
    reject_unknown(args, HISTORY_PARAMS | set(extra))
    pairs = list(pairs)
    exchanges = parse_exchanges(args.get("exchange"), (e for e, _ in pairs))
    symbols = parse_symbols(args.get("symbols"), (s for e, s in pairs if e in exchanges))
    start, end = parse_range(args, now, max_range)
    bucket = parse_bucket(args.get("bucket"), start, end)
    return HistoryQuery(exchanges, symbols, start, end, bucket, parse_format(args.get("format")))


def parse_float(name: str, raw: str | None, default: float, minimum: float = 0.0) -> float:
    """A finite float ``>= minimum`` (``default`` when missing); raises :class:`ParamError` (400) otherwise."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParamError(name, f"{name}={raw!r} is not a number") from None
    if not minimum <= value < float("inf"):
        raise ParamError(name, f"{name}={raw!r} must be a finite number >= {minimum}")
    return value


def parse_int(name: str, raw: str | None, default: int, minimum: int = 1, maximum: int = 10_000) -> int:
    """An integer in ``[minimum, maximum]`` (``default`` when missing); raises :class:`ParamError` (400) otherwise."""
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"{name}={raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ParamError(name, f"{name}={raw!r} must be between {minimum} and {maximum}")
    return value


def parse_choices(name: str, raw: str | None, allowed: Iterable[str]) -> tuple[str, ...] | None:
    """A comma list restricted to ``allowed`` (``None`` when missing); raises :class:`ParamError` (400)."""
    values = _split(raw)
    allowed = sorted(set(allowed))
    for value in values:
        if value not in allowed:
            raise ParamError(name, f"{name}={value!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values)) or None


def parse_coins(raw: str | None, known: Iterable[str]) -> tuple[str, ...] | None:
    """Coin names (``db.coins``) from a comma list of coins (``BTC``, ``pepe``) or market spellings (``BTCUSDT``,
    ``1000PEPE/USDT:USDT`` name their coin), upper case, checked against the symbols ``known`` (ccxt unified, of
    the chosen exchanges); None when missing or empty (every coin).

    Raises :class:`ParamError` (``coins``) 400 for an unreadable value and 404 for a coin with no data there."""
    parts = _split(raw)
    if not parts:  # every coin: no need to name the known ones (1,800 symbols: ~6 ms)
        return None
    known_coins = {coin_of(symbol).name for symbol in known}
    wanted = []
    for part in parts:
        if is_bare_coin(part):
            coin = coin_of_base(part).name
        else:
            try:
                coin = coin_of(normalize_symbol(part)).name
            except SymbolError as exc:
                raise ParamError("coins", str(exc)) from None
        if coin not in known_coins:
            raise ParamError("coins", f"no data for coin {coin!r} on the chosen exchanges", status=404)
        wanted.append(coin)
    return tuple(dict.fromkeys(wanted)) or None
