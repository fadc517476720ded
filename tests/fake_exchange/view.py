"""A clocked view of the fake exchange's recorded data (:class:`MarketView`) and the paged time query the routes
ask it (:class:`Window`).

``MarketView`` puts a clock ("now", UTC ms) and optional holes in front of a
:class:`~tests.fake_exchange.store.RecordedStore`: nothing stamped after now is visible, and hidden ranges are
left out, so a test can travel to any recorded instant and make gaps for backfill without touching the data.
Values stay the recorded strings; times are integers in ms since the epoch (UTC).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from tests.fake_exchange.store import (
    DEFAULT_NOW_MS,
    EMPTY,
    MINUTE_MS,
    TIMEFRAME_MS,
    RecordedStore,
    Series,
)


@dataclass(frozen=True)
class Hole:
    """A hidden range: rows of ``kind`` (``"1m"``, ``"1h"`` or ``"funding"``) with start <= t <= end (ms)."""

    venue: str
    base: str
    kind: str
    start: int
    end: int

    def covers(self, venue: str, base: str, kind: str, t: int) -> bool:
        """True when the row of ``venue``/``base``/``kind`` stamped ``t`` (ms) is hidden."""
        return (self.venue, self.base, self.kind) == (venue, base, kind) and self.start <= t <= self.end


def day_stats(rows: list[tuple[str, ...]]) -> dict[str, str]:
    """24 h figures from ``(open, high, low, close, volume)`` candle rows (oldest first, non-empty):
    ``open``, ``high``, ``low``, ``close`` (recorded strings) and ``volume`` (exact decimal sum)."""
    return {
        "open": rows[0][0],
        "high": max((r[1] for r in rows), key=Decimal),
        "low": min((r[2] for r in rows), key=Decimal),
        "close": rows[-1][3],
        "volume": str(sum(Decimal(r[4]) for r in rows)),
    }


def _partial(row: tuple[str, ...], elapsed: float) -> tuple[str, ...]:
    """An open candle ``(open, high, low, close, volume)`` part ``elapsed`` (0..1) of the way through its period."""
    o, _, _, c, volume = row
    high, low = (o, c) if Decimal(o) >= Decimal(c) else (c, o)
    return o, high, low, c, str((Decimal(volume) * Decimal(str(round(elapsed, 3)))).normalize())


class MarketView:
    """A ``RecordedStore`` seen at a settable "now" with optional holes; thread-safe.

    ``now_ms()`` is ``DEFAULT_NOW_MS`` until ``set_now`` is called. With ``running=True`` the clock advances
    with wall time from the instant it was set (for long-running standalone use). ``set_skew`` makes the exchange's
    own clock (``now_ms``: what it serves, its ``Date`` header) differ from that reference time
    (``reference_ms``: what a test hands the worker as its clock).
    """

    def __init__(self, store: RecordedStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._now = DEFAULT_NOW_MS
        self._set_at = time.monotonic()
        self._running = False
        self._skew = 0
        self._holes: list[Hole] = []
        self._intervals: dict[tuple[str, str], int] = {}
        self._spoiled: set[tuple[str, str]] = set()
        self._spoiled_oi: set[tuple[str, str]] = set()

    def set_interval(self, venue: str, base: str, interval_ms: int) -> None:
        """From now on serve ``interval_ms`` as the funding interval of ``venue``/``base`` (an exchange changing a
        symbol's interval), instead of the one derived from the recorded settlements."""
        with self._lock:
            self._intervals[(venue, base)] = int(interval_ms)

    def funding_interval_ms(self, venue: str, base: str) -> int | None:
        """The served funding interval (ms): a :meth:`set_interval` override, else ``store.funding_interval_ms``."""
        with self._lock:
            override = self._intervals.get((venue, base))
        return override if override is not None else self.store.funding_interval_ms(venue, base)

    def spoil_funding(self, venue: str, base: str) -> None:
        """Make the current-funding entry of ``venue``/``base`` malformed (rate and prices ``"NaN"``, see
        ``faults.spoil``) in every answer, the all-symbol ones included."""
        with self._lock:
            self._spoiled.add((venue, base))

    def spoiled(self, venue: str, base: str) -> bool:
        """True when :meth:`spoil_funding` was called for ``venue``/``base``."""
        with self._lock:
            return (venue, base) in self._spoiled

    def spoil_open_interest(self, venue: str, base: str) -> None:
        """Make the open-interest fields of ``venue``/``base`` malformed (``"NaN"``) in every answer that carries
        them, the all-symbol ones included; its other fields and the other symbols are untouched."""
        with self._lock:
            self._spoiled_oi.add((venue, base))

    def spoiled_open_interest(self, venue: str, base: str) -> bool:
        """True when :meth:`spoil_open_interest` was called for ``venue``/``base``."""
        with self._lock:
            return (venue, base) in self._spoiled_oi

    def set_now(self, ms: int, running: bool = False) -> None:
        """Make ``ms`` (UTC ms since the epoch) the exchange's current time; ``running`` lets it tick on."""
        with self._lock:
            self._now, self._set_at, self._running = int(ms), time.monotonic(), running

    def set_skew(self, ms: int) -> None:
        """Make the exchange's clock ``ms`` ahead of the reference time (negative: behind)."""
        with self._lock:
            self._skew = int(ms)

    def reference_ms(self) -> int:
        """The reference ("true") time, UTC ms: the exchange's clock without its skew."""
        with self._lock:
            if not self._running:
                return self._now
            return self._now + int((time.monotonic() - self._set_at) * 1000)

    def now_ms(self) -> int:
        """The exchange's current time, UTC ms (the reference time plus the skew)."""
        skew = self._skew
        return self.reference_ms() + skew

    def hide(self, venue: str, base: str, kind: str, start: int, end: int) -> None:
        """Hide rows of ``kind`` (``1m``/``1h``/``funding``) stamped ``start <= t <= end`` (ms).
        Raises ``ValueError`` for another kind."""
        if kind not in (*TIMEFRAME_MS, "funding"):
            raise ValueError(f"kind must be one of {[*TIMEFRAME_MS, 'funding']}, got {kind!r}")
        with self._lock:
            self._holes.append(Hole(venue, base, kind, start, end))

    def reset(self) -> None:
        """Back to ``DEFAULT_NOW_MS``, stopped clock, no holes."""
        with self._lock:
            self._now, self._running, self._holes, self._skew = DEFAULT_NOW_MS, False, [], 0
            self._intervals, self._spoiled, self._spoiled_oi = {}, set(), set()

    def _visible(self, series: Series, venue: str, base: str, kind: str, start: int, end: int) -> list[int]:
        """Indexes of the rows of ``series`` with start <= t <= min(end, now) that no hole hides."""
        i, j = series.span(start, min(end, self.now_ms()))
        with self._lock:
            holes = [h for h in self._holes if (h.venue, h.base, h.kind) == (venue, base, kind)]
        return [k for k in range(i, j) if not any(h.covers(venue, base, kind, series.times[k]) for h in holes)]

    def select(self, venue: str, base: str, kind: str, window: Window) -> list[tuple[int, tuple[str, ...]]]:
        """Visible ``(time_ms, row)`` pairs of a candle series (``kind`` = timeframe) or of funding
        (``kind="funding"``) inside ``window``, oldest first, paged like the exchanges do (see ``Window``)."""
        series = self.store.funding.get((venue, base), EMPTY) if kind == "funding" else self.candles(venue, base, kind)
        idx = self._visible(series, venue, base, kind, window.start, window.end)
        idx = idx[-window.limit :] if window.newest_first else idx[: window.limit]
        return [(series.times[k], series.rows[k]) for k in idx]

    def served_candles(self, venue: str, base: str, timeframe: str, window: Window) -> list[tuple[int, tuple]]:
        """:meth:`select` of candles as an exchange serves them: the candle containing now is still open, so its
        volume is the recorded one scaled by the part of the candle elapsed, and its high/low span only its open and
        close (the recorded path inside it is unknown) - a client that stores it early stores values that differ
        from the recorded final ones."""
        width = TIMEFRAME_MS[timeframe]
        now = self.now_ms()
        return [
            (t, _partial(row, (now - t) / width) if t + width > now else row)
            for t, row in self.select(venue, base, timeframe, window)
        ]

    def candles(self, venue: str, base: str, timeframe: str) -> Series:
        """The full recorded candle series (no clock applied); ``EMPTY`` when nothing is recorded."""
        return self.store.candles.get((venue, base, timeframe), EMPTY)

    def last_closed_candle(self, venue: str, base: str, timeframe: str) -> tuple[int, tuple[str, ...]] | None:
        """The newest visible candle that closed at or before now: ``(open_ms, row)``, or ``None``."""
        width = TIMEFRAME_MS[timeframe]
        rows = self.select(venue, base, timeframe, Window(0, self.now_ms() - width, 1, newest_first=True))
        return rows[-1] if rows else None

    def finest_timeframe(self, venue: str, base: str) -> str:
        """``1m`` when 1-minute candles are recorded for ``venue``/``base``, else ``1h``."""
        return "1m" if (venue, base, "1m") in self.store.candles else "1h"

    def last_price(self, venue: str, base: str) -> str | None:
        """Close of the candle that closed last at or before now, over the recorded timeframes (at an equal close
        time the finer one; recorded string), or ``None``. (Binance's 1 m recording ends in 2025-06: later, the 1 h
        candles are newer.)"""
        closed = [(t + TIMEFRAME_MS[tf], -TIMEFRAME_MS[tf], row[3]) for tf in TIMEFRAME_MS
                  if (candle := self.last_closed_candle(venue, base, tf)) for t, row in [candle]]
        return max(closed)[2] if closed else None

    def trailing_day(self, venue: str, base: str) -> list[tuple[str, ...]]:
        """Candles (finest recorded timeframe, oldest first) that closed in the 24 h before now."""
        timeframe = self.finest_timeframe(venue, base)
        width = TIMEFRAME_MS[timeframe]
        end = self.now_ms() - width
        count = 86_400_000 // width
        return [row for _, row in self.select(venue, base, timeframe, Window(end - (count - 1) * width, end, count))]

    def next_settlement(self, venue: str, base: str) -> int | None:
        """Next funding time after now (ms) on the grid of the last visible settlement and the symbol's
        derived interval; ``None`` without recorded settlements."""
        interval = self.funding_interval_ms(venue, base)
        settled = self.last_settlement(venue, base)
        if settled is None or interval is None:
            return None
        grid = settled[0] - settled[0] % MINUTE_MS  # Binance fundingTime carries a few ms of settlement jitter
        return grid + interval * ((self.now_ms() - grid) // interval + 1)

    def last_settlement(self, venue: str, base: str) -> tuple[int, str] | None:
        """The newest visible settled funding ``(time_ms, rate)`` at or before now, or ``None``."""
        rows = self.select(venue, base, "funding", Window(0, self.now_ms(), 1, newest_first=True))
        return (rows[-1][0], rows[-1][1][0]) if rows else None


@dataclass(frozen=True)
class Window:
    """A paged time query: rows with ``start <= t <= end`` (ms, inclusive), at most ``limit`` of them —
    the oldest ones (``newest_first=False``: Binance ``startTime`` paging) or the newest ones
    (``newest_first=True``: Bybit/OKX paging backwards from ``end``). The result is always oldest first."""

    start: int
    end: int
    limit: int
    newest_first: bool = False
