"""Validation of candle and funding frames before anything is written.

Vectorised over ``pandas.DataFrame`` batches with the columns of :mod:`ingest.rows`. Each record either
passes or gets exactly one rejection reason (the first rule it breaks, in the order listed below); one bad
record never stops a batch. Rejected records are logged (reason, count, a payload excerpt of the first few)
and returned so the caller counts them in ``system_metrics`` (``rows_rejected``).

Rules (reason code → rule):

* ``unknown_symbol`` — symbol not in the configured set (only when ``known_symbols`` is given);
* ``time_future`` — time later than now + ``settings.max_future_seconds``;
* ``time_before_exchange`` — time before :data:`EXCHANGE_EPOCH` of the exchange (else :data:`DEFAULT_EPOCH`);
* candles: ``price_not_finite``, ``price_not_positive`` (any of open/high/low/close), ``high_lt_low``,
  ``volume_invalid`` (negative or non-finite when present);
* funding: ``funding_not_finite``, ``funding_out_of_bounds`` (\\|rate\\| > ``settings.max_abs_funding_rate``,
  a fraction per interval), ``price_not_positive`` (mark/index price ≤ 0 or non-finite when present),
  ``interval_invalid`` (funding interval ≤ 0 when present);
* open interest: ``symbol_missing`` (empty symbol), ``open_interest_missing`` (neither contracts nor quote
  notional), ``open_interest_invalid`` (contracts negative or non-finite when present), ``value_invalid`` (base
  units or quote notional negative or non-finite when present).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from settings import Settings

log = logging.getLogger(__name__)

#: No exchange data can predate the venue: launch dates (UTC) of the venues' derivatives markets.
EXCHANGE_EPOCH = {
    "binanceusdm": pd.Timestamp("2019-09-01", tz="UTC"),  # Binance USD-M futures launch
    "bybit": pd.Timestamp("2018-11-01", tz="UTC"),
    "okx": pd.Timestamp("2017-01-01", tz="UTC"),
    "hyperliquid": pd.Timestamp("2023-01-01", tz="UTC"),
}
#: Fallback: Bitcoin's genesis block (2009-01-03) — no crypto market data is older.
DEFAULT_EPOCH = pd.Timestamp("2009-01-03", tz="UTC")
#: How many rejected records per reason are quoted in the log per batch.
LOG_EXCERPTS = 3


@dataclass(frozen=True)
class Validated:
    """``valid``: the records that passed (same columns as the input); ``rejected``: the others plus a
    ``reason`` column."""

    valid: pd.DataFrame
    rejected: pd.DataFrame

    def rejected_counts(self) -> dict[tuple[str, str, str], int]:
        """``{(exchange, symbol, reason): count}`` of the rejected records."""
        if self.rejected.empty:
            return {}
        grouped = self.rejected.groupby(["exchange", "symbol", "reason"], sort=False).size()
        return {k: int(v) for k, v in grouped.items()}


def validate_candles(frame: pd.DataFrame, settings: Settings, known_symbols: Collection[str] | None = None,
                     now: datetime | None = None) -> Validated:
    """Split a candle frame (:data:`ingest.rows.CANDLE_COLUMNS`) into valid and rejected records."""
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype="float64")
    volume = frame["volume"].to_numpy(dtype="float64", na_value=np.nan)
    rules = [
        ("price_not_finite", ~np.isfinite(prices).all(axis=1)),
        ("price_not_positive", (prices <= 0).any(axis=1)),
        ("high_lt_low", frame["high"].to_numpy(dtype="float64") < frame["low"].to_numpy(dtype="float64")),
        ("volume_invalid", np.isinf(volume) | (volume < 0)),
    ]
    return _apply(frame, _common_rules(frame, settings, known_symbols, now) + rules, "candle")


def validate_funding(frame: pd.DataFrame, settings: Settings, known_symbols: Collection[str] | None = None,
                     now: datetime | None = None) -> Validated:
    """Split a funding frame (:data:`ingest.rows.FUNDING_COLUMNS`) into valid and rejected records."""
    rate = frame["funding_rate"].to_numpy(dtype="float64", na_value=np.nan)
    prices = frame[["mark_price", "index_price"]].to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(prices)
    interval = frame["funding_interval_hours"].to_numpy(dtype="float64", na_value=np.nan)
    rules = [
        ("funding_not_finite", ~np.isfinite(rate)),
        ("funding_out_of_bounds", np.abs(rate) > settings.max_abs_funding_rate),
        ("price_not_positive", (present & ~(np.isfinite(prices) & (prices > 0))).any(axis=1)),
        ("interval_invalid", ~np.isnan(interval) & ~(interval > 0)),
    ]
    return _apply(frame, _common_rules(frame, settings, known_symbols, now) + rules, "funding")


def validate_open_interest(frame: pd.DataFrame, settings: Settings,
                           known_symbols: Collection[str] | None = None, now: datetime | None = None) -> Validated:
    """Split an open-interest frame (:data:`ingest.rows.OPEN_INTEREST_COLUMNS`) into valid and rejected records."""
    contracts = frame["open_interest_contracts"].to_numpy(dtype="float64", na_value=np.nan)
    extra = frame[["open_interest_base", "open_interest_value"]].to_numpy(dtype="float64", na_value=np.nan)
    rules = [
        ("symbol_missing", (frame["symbol"].fillna("") == "").to_numpy()),
        ("open_interest_missing", np.isnan(contracts) & np.isnan(extra[:, 1])),
        ("open_interest_invalid", ~np.isnan(contracts) & ~(np.isfinite(contracts) & (contracts >= 0))),
        ("value_invalid", (~np.isnan(extra) & ~(np.isfinite(extra) & (extra >= 0))).any(axis=1)),
    ]
    return _apply(frame, _common_rules(frame, settings, known_symbols, now) + rules, "open interest")


def _common_rules(frame, settings, known_symbols, now) -> list[tuple[str, np.ndarray]]:
    now = pd.Timestamp(now or datetime.now(UTC))
    times = pd.to_datetime(frame["time"], utc=True)
    epochs = frame["exchange"].map(EXCHANGE_EPOCH).fillna(DEFAULT_EPOCH)
    rules = []
    if known_symbols is not None:
        rules.append(("unknown_symbol", ~frame["symbol"].isin(list(known_symbols)).to_numpy()))
    rules.append(("time_future", (times > now + pd.Timedelta(seconds=settings.max_future_seconds)).to_numpy()))
    rules.append(("time_before_exchange", (times < pd.to_datetime(epochs, utc=True)).to_numpy()))
    return rules


def _apply(frame: pd.DataFrame, rules: list[tuple[str, np.ndarray]], kind: str) -> Validated:
    if frame.empty:
        return Validated(frame, frame.assign(reason=pd.Series(dtype=object)))
    reason = np.select([mask for _, mask in rules], [name for name, _ in rules], default="")
    bad = reason != ""
    if not bad.any():
        return Validated(frame, frame.iloc[0:0].assign(reason=pd.Series(dtype=object)))
    rejected = frame[bad].assign(reason=reason[bad])
    for name, group in rejected.groupby("reason", sort=False):
        excerpt = group.drop(columns="reason").head(LOG_EXCERPTS).to_dict("records")
        log.warning("rejected %d %s record(s): %s; e.g. %s", len(group), kind, name, excerpt)
    return Validated(frame[~bad], rejected)
