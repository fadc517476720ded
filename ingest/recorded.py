"""Load the bundled real history (``data/recorded``, see its PROVENANCE.md) through the normal pipeline.

``python -m ingest load-recorded`` calls :func:`load_recorded`. Datasets:

* Binance USD-M 1-minute klines of BTC, ETH, SOL, BNB, XRP (2025-05-25 → 2025-06-24) → ``prices``
  (``binanceusdm``, timeframe ``1m``, price kind ``last``; the last candle of each symbol is dropped because
  it may have been still open when recorded); the 15-minute and 1-hour rollups follow.
* The cross-venue 1-hour candles of BTC, ETH, SOL, DOGE, HYPE on the seven venues → ``prices`` (timeframe ``1h``,
  price kind ``last``; each series' last candle dropped, the source says it may be incomplete; Binance hours the
  1-minute candles cover left to their rollups) — :func:`read_klines_1h`.
* Binance settled funding (two freqtrade downloads) with the mark price at settlement from the 8-hour
  mark-price klines, and the cross-venue funding year of seven venues (binance, bybit, okx, hyperliquid, kraken
  futures, dydx, lighter) → ``funding_rates`` (``settled=true``); the funding interval of each row is the venue's
  documented one where it is fixed (the hourly venues, :data:`VENUES`), else the spacing of that series
  (:func:`infer_intervals`: Binance and OKX list HYPE at 4 h, the rest at 8 h).
* Cross-venue open interest in USD (hourly Hyperliquid and Lighter, one snapshot each for the others) →
  ``open_interest`` (``source='recorded'``, ``open_interest_value`` = ``oi_usd``; contracts and base units not
  recorded, NULL) — :func:`read_open_interest`.

Idempotent and quick when already loaded: each exchange + symbol series is first compared with what is stored
(count of rows in the series' time range); a complete series is skipped without parsing anomalies or writing.
A partly stored series goes through the pipeline again (writes are idempotent, so nothing is duplicated).
Raises ``FileNotFoundError`` when a dataset file is missing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from ingest.pipeline import PipelineResult, ingest_candles, ingest_funding, ingest_open_interest
from ingest.retention import retention_cutoff
from ingest.symbols import normalize_symbol
from settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

RECORDED_DIR = PROJECT_ROOT / "data" / "recorded"
KLINES_1M = "binance_usdm_klines_1m_2025-05-25_2025-06-24_5sym.csv.gz"
MARK_8H = "binance_usdm_mark_price_klines_8h_2025-05-25_2025-06-24_5sym.csv.gz"
BINANCE_FUNDING = ("binance_usdm_funding_5sym_2025-03-06_2025-06-15.csv.gz",
                   "binance_usdm_funding_5sym_2025-05-25_2025-06-24.csv.gz")
CROSS_VENUE_FUNDING = "cross_venue_funding_7_venues_2025-03-08_2026-03-07.csv.gz"
CROSS_VENUE_OPEN_INTEREST = "cross_venue_open_interest_usd_7_venues_2025-12-07_2026-03-07.csv.gz"
CROSS_VENUE_CANDLES = "cross_venue_candles_1h_7_venues_2025-03-06_2026-03-05.csv.gz"
#: Venues whose recorded candle ``volume`` is in base-asset units (the shared data's PROVENANCE); OKX's is in
#: contracts whose size the recording does not hold, and the others' unit is not stated: stored as NULL.
BASE_VOLUME_VENUES = frozenset({"binance", "bybit"})



class Venue(NamedTuple):
    """A cross-venue file's venue in ccxt's terms: ``exchange`` id, ``quote`` (= settle) currency of its linear
    perpetuals as ccxt spells them (``BTC/USDC:USDC`` on Hyperliquid, dYdX v4 and Lighter; ``BTC/USD:USD`` on
    Kraken Futures' multi-collateral ``PF_`` perpetuals), and ``interval_hours`` when the venue settles on a
    fixed interval (``None``: inferred per series)."""

    exchange: str
    quote: str
    interval_hours: float | None


#: cross-venue ``venue`` → :class:`Venue`. The hourly venues store an hourly rate (the shared data's
#: PROVENANCE: Hyperliquid's neutral 0.0000125 = 0.01 %/8 h ÷ 8); ccxt reports ``interval`` 1h for each.
VENUES = {"binance": Venue("binanceusdm", "USDT", None), "bybit": Venue("bybit", "USDT", None),
          "okx": Venue("okx", "USDT", None), "hyperliquid": Venue("hyperliquid", "USDC", 1.0),
          "kraken": Venue("krakenfutures", "USD", 1.0), "dydx": Venue("dydx", "USDC", 1.0),
          "lighter": Venue("lighter", "USDC", 1.0)}
#: Spacing (hours) above which consecutive settlements are treated as a gap in the record, not an interval.
MAX_INTERVAL_HOURS = 8.0


def _ms(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series.astype("int64"), unit="ms", utc=True)


def read_klines_1m(data_dir: Path = RECORDED_DIR) -> pd.DataFrame:
    """The 1-minute candles as a candle frame, the (possibly still open) last candle of each symbol dropped."""
    raw = pd.read_csv(data_dir / KLINES_1M)
    raw = raw.sort_values(["symbol", "open_time_ms"])
    raw = raw[raw.duplicated("symbol", keep="last")]  # drop each symbol's last candle
    symbols = {s: normalize_symbol(s) for s in raw["symbol"].unique()}
    return pd.DataFrame({
        "time": _ms(raw["open_time_ms"]), "exchange": "binanceusdm", "symbol": raw["symbol"].map(symbols),
        "timeframe": "1m", "price_kind": "last", "open": raw["open"], "high": raw["high"], "low": raw["low"],
        "close": raw["close"], "volume": raw["volume"], "quote_volume": np.nan,
    }).reset_index(drop=True)


def read_klines_1h(data_dir: Path = RECORDED_DIR) -> pd.DataFrame:
    """The cross-venue 1-hour candles as a candle frame (timeframe ``1h``): symbol = the coin's perpetual in the
    venue's settle currency (:data:`VENUES`), prices in quote currency as recorded, ``volume`` in base units for
    :data:`BASE_VOLUME_VENUES` and NULL for the rest, quote volume NULL; each series' last candle dropped."""
    raw = pd.read_csv(data_dir / CROSS_VENUE_CANDLES)
    raw = raw[raw["venue"].isin(list(VENUES))].sort_values(["venue", "coin", "open_time_ms"])
    raw = raw[raw.duplicated(["venue", "coin"], keep="last")]  # drop each series' last candle
    quote = raw["venue"].map(lambda v: VENUES[v].quote)
    return pd.DataFrame({
        "time": _ms(raw["open_time_ms"]), "exchange": raw["venue"].map(lambda v: VENUES[v].exchange),
        "symbol": [normalize_symbol(f"{c}/{q}:{q}") for c, q in zip(raw["coin"], quote, strict=True)],
        "timeframe": "1h", "price_kind": "last", "open": raw["open"], "high": raw["high"], "low": raw["low"],
        "close": raw["close"], "volume": raw["volume"].where(raw["venue"].isin(BASE_VOLUME_VENUES)),
        "quote_volume": np.nan,
    }).reset_index(drop=True)  # fmt: skip


def read_candles(data_dir: Path = RECORDED_DIR) -> pd.DataFrame:
    """The 1-minute candles (:func:`read_klines_1m`) and the 1-hour ones (:func:`read_klines_1h`) of the hours
    they do not cover: there the 1-hour candle is the rollup ingest keeps of the 1-minute ones (the shared
    PROVENANCE found both equal, volume to 1e-15)."""
    minute, hourly = read_klines_1m(data_dir), read_klines_1h(data_dir)
    covered = pd.MultiIndex.from_arrays([minute["exchange"], minute["symbol"], minute["time"].dt.floor("1h")])
    own = pd.MultiIndex.from_arrays([hourly["exchange"], hourly["symbol"], hourly["time"]])
    return pd.concat([minute, hourly[~own.isin(covered)]], ignore_index=True)


def infer_intervals(times: pd.Series) -> np.ndarray:
    """Funding interval (hours) of each settlement of one time-sorted series: the spacing to the previous
    settlement rounded to the hour (the first takes the next spacing); spacings over
    :data:`MAX_INTERVAL_HOURS` (gaps in the record) take the series' most common spacing. Single row → NaN."""
    hours = (pd.to_datetime(times, utc=True).diff().dt.total_seconds() / 3600).round().to_numpy(copy=True)
    if len(hours) < 2:
        return np.full(len(hours), np.nan)
    hours[0] = hours[1]
    valid = hours[(hours > 0) & (hours <= MAX_INTERVAL_HOURS)]
    mode = pd.Series(valid).mode().iloc[0] if len(valid) else np.nan
    return np.where((hours > 0) & (hours <= MAX_INTERVAL_HOURS), hours, mode)


def _funding_frame(times, exchange, symbols, rates, mark=np.nan) -> pd.DataFrame:
    return pd.DataFrame({"time": times, "exchange": exchange, "symbol": symbols, "settled": True,
                         "funding_rate": rates, "funding_interval_hours": np.nan, "mark_price": mark,
                         "index_price": np.nan, "next_funding_time": pd.NaT})


def read_funding(data_dir: Path = RECORDED_DIR) -> pd.DataFrame:
    """All bundled settled funding as one funding frame, one row per exchange + symbol + settlement time
    (overlapping sources agree exactly; the row carrying a mark price wins), intervals inferred per series."""
    binance = pd.concat([pd.read_csv(data_dir / name) for name in BINANCE_FUNDING], ignore_index=True)
    mark = pd.read_csv(data_dir / MARK_8H)[["symbol", "open_time_ms", "open"]]
    binance["minute"] = binance["funding_time_ms"] // 60_000
    mark["minute"] = mark["open_time_ms"] // 60_000
    binance = binance.merge(mark[["symbol", "minute", "open"]], on=["symbol", "minute"], how="left")
    parts = [_funding_frame(_ms(binance["funding_time_ms"]), "binanceusdm", binance["symbol"].map(normalize_symbol),
                            binance["funding_rate"], binance["open"])]
    venue = pd.read_csv(data_dir / CROSS_VENUE_FUNDING)
    for name, v in VENUES.items():
        rows = venue[venue["venue"] == name]
        symbols = rows["coin"].map(lambda c, q=v.quote: normalize_symbol(f"{c}/{q}:{q}"))
        parts.append(_funding_frame(_ms(rows["funding_time_ms"]), v.exchange, symbols, rows["funding_rate"]))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["exchange", "symbol", "time", "mark_price"], na_position="last")
    frame = frame.drop_duplicates(["exchange", "symbol", "time"], keep="first").reset_index(drop=True)
    fixed = {v.exchange: v.interval_hours for v in VENUES.values() if v.interval_hours}
    for (exchange, _), idx in frame.groupby(["exchange", "symbol"], sort=False).groups.items():
        hours = fixed.get(exchange)
        frame.loc[idx, "funding_interval_hours"] = hours if hours else infer_intervals(frame.loc[idx, "time"])
    return frame


def read_open_interest(data_dir: Path = RECORDED_DIR) -> pd.DataFrame:
    """The cross-venue open interest as an open-interest frame (``OPEN_INTEREST_COLUMNS``): ``time`` UTC,
    symbol = the coin's perpetual in the venue's settle currency (:data:`VENUES`), ``open_interest_value`` =
    ``oi_usd`` (USD notional as recorded), contracts/base NULL, ``source='recorded'``."""
    raw = pd.read_csv(data_dir / CROSS_VENUE_OPEN_INTEREST)
    raw = raw[raw["venue"].isin(list(VENUES))]
    quote = raw["venue"].map(lambda v: VENUES[v].quote)
    return pd.DataFrame({
        "time": pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601"),
        "exchange": raw["venue"].map(lambda v: VENUES[v].exchange),
        "symbol": [normalize_symbol(f"{c}/{q}:{q}") for c, q in zip(raw["coin"], quote, strict=True)],
        "source": "recorded", "open_interest_contracts": np.nan, "open_interest_base": np.nan,
        "open_interest_value": raw["oi_usd"].astype("float64"),
    }).reset_index(drop=True)  # fmt: skip


_STORED = {
    "candles": text("SELECT count(*) FROM prices WHERE exchange = :exchange AND symbol = :symbol "
                    "AND timeframe = :timeframe AND price_kind = 'last' AND time BETWEEN :lo AND :hi"),
    "funding": text("SELECT count(*) FROM funding_rates WHERE exchange = :exchange AND symbol = :symbol "
                    "AND settled AND time BETWEEN :lo AND :hi"),
    "open_interest": text("SELECT count(*) FROM open_interest WHERE exchange = :exchange AND symbol = :symbol "
                          "AND source = 'recorded' AND time BETWEEN :lo AND :hi"),
}


def _missing(engine: Engine, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the exchange + symbol (+ timeframe, for candles) series of ``frame`` not completely stored yet."""
    keep, keys = [], ["exchange", "symbol"] + (["timeframe"] if "timeframe" in frame else [])
    with engine.connect() as conn:
        for key, group in frame.groupby(keys, sort=False):
            params = {**dict(zip(keys, key, strict=True)), "lo": group["time"].min().to_pydatetime(),
                      "hi": group["time"].max().to_pydatetime()}
            if conn.execute(_STORED[kind], params).scalar_one() < len(group):
                keep.append(group)
    return pd.concat(keep, ignore_index=True) if keep else frame.iloc[0:0]


_TABLE = {"candles": "prices", "funding": "funding_rates", "open_interest": "open_interest"}


def within_retention(engine: Engine, kind: str, frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The rows of ``frame`` that retention would keep (:func:`ingest.retention.retention_cutoff`): all of them
    while the table holds only history, else those newer than ``now − retention_days``."""
    with engine.connect() as conn:
        cutoff = retention_cutoff(conn, _TABLE[kind], settings.retention_days)
    return frame if cutoff is None else frame[frame["time"] >= cutoff]


def load_recorded(engine: Engine, settings: Settings, data_dir: Path = RECORDED_DIR) -> PipelineResult:
    """Load every bundled dataset not yet stored through validate → anomalies → write; returns the totals.

    Logs one line per dataset (series loaded / skipped). Raises ``FileNotFoundError`` for a missing file and
    database errors from the writes."""
    total = PipelineResult()
    for kind, reader, ingest in (("candles", read_candles, ingest_candles),
                                 ("funding", read_funding, ingest_funding),
                                 ("open_interest", read_open_interest, ingest_open_interest)):
        frame = within_retention(engine, kind, reader(data_dir), settings)
        todo = _missing(engine, kind, frame)
        if todo.empty:
            log.info("recorded %s: all %d rows already stored, skipped", kind, len(frame))
            continue
        result = ingest(engine, todo, settings)
        log.info("recorded %s: %d rows in %d series processed, %d written, %d anomalies, %d rejected",
                 kind, len(todo), todo.groupby(["exchange", "symbol"]).ngroups, result.written, result.anomalies,
                 result.rejected_total)
        total.add(result)
    return total
