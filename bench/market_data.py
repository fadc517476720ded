"""The data set of ``make bench-market`` (:mod:`bench.bench_market`): ≥ 1,500 venue + symbol pairs × 90 days of
settled funding plus a day of 60-second predicted snapshots, every row labelled with its origin.

Window: the 90 days ending :data:`END` (2026-03-07 12:00 UTC, just after the bundled cross-venue records end). Origins
(the ``origin`` column; counts printed by the bench):

* ``recorded cross-venue``: the bundled year of 5 coins × 7 venues (``ingest.recorded.read_funding``; hourly venues
  store an hourly rate) and its open interest (``read_open_interest``, USD notional).
* ``recorded binance all-symbols``: the shared Binance USD-M file :data:`ALL_SYMBOLS` (539 symbols; read from
  /work/shared only, never copied; the bench stops with a message when it is absent), its settlements inside the
  window; intervals from the spacing (``ingest.recorded.infer_intervals``).
* ``derived tiled``: a Binance symbol's own recorded series repeated back in time by whole multiples of its span
  (rounded up to days) to fill the window before its first recorded settlement (most symbols hold 200
  settlements, ~1–2 months).
* ``derived venue copy``: bybit and okx copies of each Binance symbol (same name, ccxt unified), each carrying the
  (tiled) series of another Binance symbol (a fixed permutation per venue), same interval and rate;
  ``derived hourly copy``: Hyperliquid copies of :data:`HOURLY_SYMBOLS` symbols (``X/USDC:USDC``), each settlement of
  interval h hours spread over h hourly settlements of rate / h (an hourly venue's rate).
* ``derived predicted``: one predicted row per pair per minute of the last day (the live worker's 60 s cadence),
  rate = the pair's next settled rate (its last one after its record ends), interval = that row's.
* ``derived open interest``: one row per other pair an hour before :data:`END`: the recorded newest notional of a
  coin (round-robin) on that venue (Binance's where the venue has none) × 1 / (2 + the symbol's index), so the
  top-100 list by open interest is well defined.
Pairs with recorded cross-venue rows are never overwritten by derived ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from db.writes.common import FUNDING_COLUMNS
from db.writes.open_interest import OPEN_INTEREST_COLUMNS
from ingest.recorded import infer_intervals, read_funding, read_open_interest
from ingest.symbols import normalize_symbol

ALL_SYMBOLS = Path("/work/shared/data/funding/binance_usdm_funding_all_symbols_2026-01-12_2026-03-20.csv.gz")
END = datetime(2026, 3, 7, 12, tzinfo=UTC)
DAYS = 90
START = END - timedelta(days=DAYS)
#: Derived copies per venue: (exchange, quote, hourly, permutation step); hourly copies of the first N symbols only.
COPIES = (("bybit", "USDT", False, 97), ("okx", "USDT", False, 211), ("hyperliquid", "USDC", True, 331))
HOURLY_SYMBOLS = 150


def _frame(times, exchange: str, symbols, rates, hours, origin: str) -> pd.DataFrame:
    return pd.DataFrame({"time": times, "exchange": exchange, "symbol": symbols, "settled": True,
                         "funding_rate": rates, "funding_interval_hours": hours, "mark_price": np.nan,
                         "index_price": np.nan, "next_funding_time": pd.NaT, "origin": origin})  # fmt: skip


def _tiled(series: pd.DataFrame) -> pd.DataFrame:
    """One symbol's recorded rows (``time``, ``rate``, ``hours``) inside the window, then copies shifted back by
    whole multiples of its span in days until :data:`START` (``derived tiled``)."""
    first, last = series["time"].iloc[0], series["time"].iloc[-1]
    period = timedelta(days=int(np.ceil((last - first) / timedelta(days=1))) + 1)
    parts = [series[series["time"] < END].assign(origin="recorded binance all-symbols")]
    k = 1
    while first - (k - 1) * period > START:
        shifted = series.assign(time=series["time"] - k * period, origin="derived tiled")
        parts.append(shifted[(shifted["time"] >= START) & (shifted["time"] < first)])
        k += 1
    out = pd.concat(parts, ignore_index=True)
    return out[out["time"] >= START].sort_values("time", ignore_index=True)


def binance_series(path: Path = ALL_SYMBOLS) -> dict[str, pd.DataFrame]:
    """Per Binance symbol (unified), its 90-day series (``time``, ``rate``, ``hours``, ``origin``), recorded
    + tiled. Raises ``FileNotFoundError`` when the shared file is absent."""
    raw = pd.read_csv(path).sort_values(["symbol", "funding_time_ms"])
    out = {}
    for name, rows in raw.groupby("symbol", sort=True):
        times = pd.to_datetime(rows["funding_time_ms"], unit="ms", utc=True).reset_index(drop=True)
        series = pd.DataFrame({"time": times, "rate": rows["funding_rate"].to_numpy(),
                               "hours": infer_intervals(times)})  # fmt: skip
        if series["hours"].isna().any():
            continue
        out[normalize_symbol(name)] = _tiled(series)
    return out


def _hourly(series: pd.DataFrame) -> pd.DataFrame:
    """Each settlement of interval h spread over h hourly settlements ending at it, rate / h."""
    reps = series["hours"].astype(int).to_numpy()
    rows = series.loc[series.index.repeat(reps)].reset_index(drop=True)
    back = np.concatenate([np.arange(n - 1, -1, -1) for n in reps])
    return rows.assign(time=rows["time"] - pd.to_timedelta(back, unit="h"), rate=rows["rate"] / rows["hours"],
                       hours=1.0)  # fmt: skip


def settled_rows(series: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every settled row of the window (``FUNDING_COLUMNS`` + ``origin``), recorded cross-venue pairs first."""
    recorded = read_funding()
    recorded = recorded[(recorded["time"] >= START) & (recorded["time"] < END)].assign(origin="recorded cross-venue")
    taken = set(zip(recorded["exchange"], recorded["symbol"], strict=True))
    parts, names = [recorded], sorted(series)
    for symbol in names:
        if ("binanceusdm", symbol) not in taken:
            s = series[symbol]
            parts.append(_frame(s["time"], "binanceusdm", symbol, s["rate"], s["hours"], s["origin"]))
    for exchange, quote, hourly, step in COPIES:
        for i, symbol in enumerate(names[:HOURLY_SYMBOLS] if hourly else names):
            target = normalize_symbol(symbol.replace("USDT", quote))
            if (exchange, target) in taken:
                continue
            s = series[names[(i + step) % len(names)]]
            s = _hourly(s) if hourly else s
            origin = "derived hourly copy" if hourly else "derived venue copy"
            parts.append(_frame(s["time"], exchange, target, s["rate"], s["hours"], origin))
    out = pd.concat(parts, ignore_index=True)
    return out[out["time"] >= START].drop_duplicates(["exchange", "symbol", "time"], ignore_index=True)


def predicted_minutes(settled: pd.DataFrame, minutes: int) -> list[pd.DataFrame]:
    """The last ``minutes`` minutes before :data:`END` of 60 s snapshots of every pair (``derived predicted``):
    one ``FUNDING_COLUMNS`` frame per minute, oldest first."""
    pairs = settled[["exchange", "symbol"]].drop_duplicates()
    times = pd.date_range(END - timedelta(minutes=minutes), periods=minutes, freq="1min")
    grid = pairs.merge(pd.DataFrame({"time": times}), how="cross").sort_values("time", ignore_index=True)
    src = settled[["time", "exchange", "symbol", "funding_rate", "funding_interval_hours"]].sort_values("time")
    src = src.assign(next_funding_time=src["time"])
    ahead = pd.merge_asof(grid, src, on="time", by=["exchange", "symbol"], direction="forward")
    behind = pd.merge_asof(grid, src, on="time", by=["exchange", "symbol"], direction="backward")
    for col in ("funding_rate", "funding_interval_hours"):
        ahead[col] = ahead[col].fillna(behind[col])
    ahead = ahead.dropna(subset=["funding_rate"]).assign(settled=False, mark_price=np.nan, index_price=np.nan)
    return [frame[list(FUNDING_COLUMNS)] for _, frame in ahead.groupby("time", sort=True)]


def open_interest_rows(settled: pd.DataFrame) -> pd.DataFrame:
    """Recorded cross-venue open interest in the window plus one ``derived open interest`` row per other pair
    (module docstring); ``OPEN_INTEREST_COLUMNS`` + ``origin``."""
    recorded = read_open_interest()
    recorded = recorded[(recorded["time"] >= START) & (recorded["time"] < END)].assign(origin="recorded cross-venue")
    newest = recorded.sort_values("time").drop_duplicates(["exchange", "symbol"], keep="last")
    pairs = settled[["exchange", "symbol"]].drop_duplicates().sort_values(["exchange", "symbol"], ignore_index=True)
    pairs = pairs[~pairs.set_index(["exchange", "symbol"]).index.isin(newest.set_index(["exchange", "symbol"]).index)]
    values = []
    for i, exchange in enumerate(pairs["exchange"]):
        venue = newest[newest["exchange"] == exchange]
        venue = venue if len(venue) else newest[newest["exchange"] == "binanceusdm"]
        values.append(venue["open_interest_value"].iloc[i % len(venue)] / (2 + i))
    derived = pairs.assign(time=END - timedelta(hours=1), source="recorded", open_interest_contracts=np.nan,
                           open_interest_base=np.nan, open_interest_value=values, origin="derived open interest")
    return pd.concat([recorded, derived[list(OPEN_INTEREST_COLUMNS) + ["origin"]]], ignore_index=True)
