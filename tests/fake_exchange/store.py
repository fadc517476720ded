"""Recorded market data for the fake exchange.

``RecordedStore`` loads the trimmed real recordings in ``tests/data/fake_exchange`` (see the PROVENANCE.md
there) once and never changes them; :mod:`tests.fake_exchange.view` puts a clock and holes in front of it.

Keys: ``venue`` is the data set's venue name (``binance``, ``bybit``, ``okx``), ``base`` the base coin
(``BTC``); every series is USDT-margined linear perpetual data. Values stay the recorded **strings** (the
exchange's own number formatting), times are integers in ms since the epoch (UTC).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.recorded import CROSS_VENUE_FUNDING
from settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "tests" / "data" / "fake_exchange"
BINANCE_KLINES_1M_FILE = "binance_usdm_klines_1m_2025-06-16_2025-06-17.csv.gz"
BINANCE_FUNDING_FILES = (
    "binance_usdm_funding_6sym_2025-03-06_2025-06-15.csv.gz",
    "binance_usdm_funding_7sym_2025-05-25_2025-06-24.csv.gz",
)
CROSS_VENUE_CANDLES_FILE = "cross_venue_candles_1h_binance_bybit_okx.csv.gz"
#: Settled funding of Binance, Bybit, OKX and Hyperliquid: the bundled cross-venue year of ``data/recorded`` (see
#: its PROVENANCE.md), read in place rather than copied here (an absolute path: ``DATA_DIR / path`` is ``path``).
CROSS_VENUE_FUNDING_FILE = PROJECT_ROOT / "data" / "recorded" / CROSS_VENUE_FUNDING
#: The venues of :data:`CROSS_VENUE_FUNDING_FILE` the fake exchange serves.
FUNDING_VENUES = ("binance", "bybit", "okx", "hyperliquid")

#: Unlicensed Binance ``/fapi/v1/premiumIndex`` snapshot outside the repository (``../shared/data``, PROVENANCE §6):
#: read only by benchmarks asking for more symbols than :data:`DEFAULT_BASES`, for the further symbols' names and
#: their current-funding fields (:attr:`RecordedStore.snapshot`).
SHARED_UNIVERSE_FILE = (PROJECT_ROOT.parent / "shared" / "data" / "api_responses" / "binance_usdm"
                        / "fapi_v1_premiumIndex_all_symbols_2025-06-17T0838Z.json")

#: "now" of a fresh server, 2025-06-17 08:38:08 UTC: inside the recorded Binance 1-minute klines (2025-06-16/17)
#: and funding history, so every default symbol has a derived current funding state (see PROVENANCE.md).
DEFAULT_NOW_MS = 1750149488000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: Candle widths served, in ms (ccxt timeframe notation).
TIMEFRAME_MS = {"1m": MINUTE_MS, "1h": HOUR_MS}
#: Bases served by default: the coins with recorded 1-minute Binance klines plus HYPE (a 4 h funding symbol).
DEFAULT_BASES = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "HYPE")


@dataclass(frozen=True)
class Series:
    """Rows sorted by time: ``times[i]`` (ms, UTC) stamps ``rows[i]`` (a tuple of recorded strings)."""

    times: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...]

    @classmethod
    def from_pairs(cls, pairs: dict[int, tuple[str, ...]]) -> Series:
        """Build from ``{time_ms: row}`` (any order)."""
        keys = sorted(pairs)
        return cls(tuple(keys), tuple(pairs[k] for k in keys))

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Index range ``[i, j)`` of the rows with ``start <= time <= end`` (both ms, inclusive)."""
        return bisect.bisect_left(self.times, start), bisect.bisect_right(self.times, end)


EMPTY = Series((), ())


def _read_csv(name: str | Path) -> Iterator[dict[str, str]]:
    with gzip.open(DATA_DIR / name, "rt", newline="") as fh:  # an absolute path replaces DATA_DIR
        yield from csv.DictReader(fh)


def _binance_base(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC``; raises ``ValueError`` for a symbol not quoted in USDT."""
    if not symbol.endswith("USDT"):
        raise ValueError(f"not a USDT symbol: {symbol!r}")
    return symbol[: -len("USDT")]


def _median_spacing(times: tuple[int, ...], grid: int) -> int | None:
    """Median gap between consecutive times (ms), rounded to ``grid`` ms (Binance times carry ms jitter)."""
    if len(times) < 2:
        return None
    gap = statistics.median(b - a for a, b in zip(times, times[1:], strict=False))
    return round(gap / grid) * grid


@dataclass
class RecordedStore:
    """All recorded series, loaded once; read-only after ``load()``.

    * ``candles[(venue, base, timeframe)]``: rows ``(open, high, low, close, volume)`` keyed by open time.
      Binance ``1m`` from the 1-minute klines file; ``1h`` for binance/bybit/okx from the cross-venue candles
      (OKX volume in contracts, as recorded).
    * ``funding[(venue, base)]``: rows ``(funding_rate,)`` keyed by settlement time (fraction per interval);
      bybit, okx and ``hyperliquid`` (hourly rates) from ``data/recorded`` (:data:`CROSS_VENUE_FUNDING_FILE`).
      Binance merges the 6/7-symbol files and the cross-venue Binance rows (identical where they overlap,
      see the shared PROVENANCE.md); the first file read wins on an identical key.
    * ``intervals[(venue, base)]``: funding interval in ms, see ``funding_interval_ms``.
    * ``bases``: coins served by the Binance venue (``DEFAULT_BASES``, or more names from a universe file).
    * ``snapshot[base]``: for the bases taken from a universe file, that file's recorded ``premiumIndex`` object
      (``markPrice``, ``indexPrice``, ``lastFundingRate``, ``interestRate`` … as strings, at its one recorded time).
    """

    candles: dict[tuple[str, str, str], Series] = field(default_factory=dict)
    funding: dict[tuple[str, str], Series] = field(default_factory=dict)
    intervals: dict[tuple[str, str], int | None] = field(default_factory=dict)
    bases: tuple[str, ...] = DEFAULT_BASES
    snapshot: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def load(cls, n_symbols: int | None = None, universe_file: Path = SHARED_UNIVERSE_FILE) -> RecordedStore:
        """Read every file of ``DATA_DIR``. ``n_symbols``: serve that many Binance symbols (``None`` or at most
        eight: the first of ``DEFAULT_BASES``). More symbols take their **names only** from ``universe_file`` (a
        Binance ``premiumIndex`` list, outside the repository: :data:`SHARED_UNIVERSE_FILE`), in its order among
        ``…USDT`` symbols, with that list's objects as their current funding (:attr:`snapshot`); they have no other
        recorded data (candles, settlements) and answer with empty values there. Raises ``FileNotFoundError``
        (a missing data or universe file) / ``ValueError`` (bad files, more symbols than named)."""
        store = cls()
        store._load_candles()
        store._load_funding()
        if n_symbols is not None:
            store.bases, store.snapshot = _pick_bases(n_symbols, universe_file)
        return store

    def _load_candles(self) -> None:
        groups: dict[tuple[str, str, str], dict[int, tuple[str, ...]]] = {}
        for row in _read_csv(BINANCE_KLINES_1M_FILE):
            key = ("binance", _binance_base(row["symbol"]), "1m")
            groups.setdefault(key, {})[int(row["open_time_ms"])] = _ohlcv(row)
        for row in _read_csv(CROSS_VENUE_CANDLES_FILE):
            key = (row["venue"], row["coin"], "1h")
            groups.setdefault(key, {})[int(row["open_time_ms"])] = _ohlcv(row)
        self.candles = {key: Series.from_pairs(rows) for key, rows in groups.items()}

    def _load_funding(self) -> None:
        groups: dict[tuple[str, str], dict[int, tuple[str, ...]]] = {}
        for name in BINANCE_FUNDING_FILES:
            for row in _read_csv(name):
                key = ("binance", _binance_base(row["symbol"]))
                groups.setdefault(key, {}).setdefault(int(row["funding_time_ms"]), (row["funding_rate"],))
        for row in _read_csv(CROSS_VENUE_FUNDING_FILE):
            if row["venue"] in FUNDING_VENUES:
                key = (row["venue"], row["coin"])
                groups.setdefault(key, {}).setdefault(int(row["funding_time_ms"]), (row["funding_rate"],))
        self.funding = {key: Series.from_pairs(rows) for key, rows in groups.items()}
        self.intervals = {key: _median_spacing(series.times, HOUR_MS) for key, series in self.funding.items()}

    def funding_interval_ms(self, venue: str, base: str) -> int | None:
        """Funding interval (ms) = median spacing of the recorded settlements, rounded to the hour;
        ``None`` when fewer than two settlements are recorded (derived, not an exchange field)."""
        return self.intervals.get((venue, base))


def _pick_bases(n: int, universe_file: Path) -> tuple[tuple[str, ...], dict[str, dict[str, object]]]:
    """The first ``n`` bases: ``DEFAULT_BASES``, then the ``…USDT`` names of ``universe_file`` (read only then),
    and ``universe_file``'s objects of the bases taken from it (by base)."""
    if n <= len(DEFAULT_BASES):
        return DEFAULT_BASES[:n], {}
    objects = {_binance_base(row["symbol"]): row for row in json.loads(universe_file.read_text())
               if row["symbol"].endswith("USDT") and row["symbol"].isalnum()}  # fmt: skip
    bases = tuple(dict.fromkeys((*DEFAULT_BASES, *objects)))
    if n > len(bases):
        raise ValueError(f"only {len(bases)} Binance symbols are named in {universe_file}, asked for {n}")
    return bases[:n], {b: objects[b] for b in bases[len(DEFAULT_BASES):n]}


def _ohlcv(row: dict[str, str]) -> tuple[str, ...]:
    return row["open"], row["high"], row["low"], row["close"], row["volume"]
