"""The newest values per exchange + symbol (overview cards and comparison table)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from db.queries.common import TF_VALUES_SQL, fetch_frame, pair_params, require_aware
from db.queries.pairs import all_pairs

_SNAPSHOT_TEMPLATE = f"""
SELECT p.exchange, p.symbol,
       lp.time AS price_time, lp.close AS last_price, lp.timeframe AS price_timeframe, ago.close AS close_24h_ago,
       pr.time AS predicted_time, pr.funding_rate AS predicted_rate, pr.funding_interval_hours AS predicted_interval,
       pr.next_funding_time, pr.mark_price, pr.index_price,
       st.time AS settled_time, st.funding_rate AS settled_rate, st.funding_interval_hours AS settled_interval,
       an.time AS last_anomaly_time, an.z_score AS last_anomaly_z, ext.first_time AS data_first
FROM unnest(CAST(:exchanges AS text[]), CAST(:symbols AS text[])) AS p(exchange, symbol)
LEFT JOIN LATERAL (
    SELECT c.time, c.close, tf.name AS timeframe
    FROM (VALUES {TF_VALUES_SQL}) AS tf(name, width)
    CROSS JOIN LATERAL (SELECT time, close FROM prices
        WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = tf.name AND price_kind = 'last'
          AND time <= CAST(:now AS timestamptz) - tf.width AND time <= :now {{bound}} ORDER BY time DESC LIMIT 1) c
    ORDER BY c.time DESC, tf.width ASC LIMIT 1) lp ON true
LEFT JOIN LATERAL (SELECT close FROM prices
    WHERE exchange = p.exchange AND symbol = p.symbol AND timeframe = lp.timeframe AND price_kind = 'last'
      AND time <= lp.time - interval '24 hours' AND time <= :now {{bound}} ORDER BY time DESC LIMIT 1) ago ON true
LEFT JOIN LATERAL (SELECT * FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled = false AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) pr ON true
LEFT JOIN LATERAL (SELECT * FROM funding_rates
    WHERE exchange = p.exchange AND symbol = p.symbol AND settled = true AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) st ON true
LEFT JOIN LATERAL (SELECT time, z_score FROM anomalies
    WHERE exchange = p.exchange AND symbol = p.symbol AND time <= :now {{bound}}
    ORDER BY time DESC LIMIT 1) an ON true
LEFT JOIN LATERAL (SELECT min(first_time) AS first_time FROM pair_extents
    WHERE exchange = p.exchange AND symbol = p.symbol AND stream IN ('funding', 'ohlcv')) ext ON true
ORDER BY p.exchange, p.symbol
"""
#: The snapshot looks back this far first: the constant bound lets the planner exclude all older chunks (planning a
#: LATERAL over a year of 1-day chunks costs ~50 ms; execution ~10 ms); likewise the constant ``time <= :now`` of
#: each probe excludes the chunks after ``now`` (a view of past history: 90 -> 10 ms for 15 pairs). Pairs with
#: neither a price nor a funding rate in that window are looked up again without the bound.
SNAPSHOT_LOOKBACK = timedelta(days=8)
_SNAPSHOT_BOUNDED = _SNAPSHOT_TEMPLATE.format(bound="AND time > :since")
_SNAPSHOT_ALL = _SNAPSHOT_TEMPLATE.format(bound="")

SNAPSHOT_COLUMNS = [
    "exchange", "symbol", "last_price", "price_time", "change_24h_pct", "funding_rate", "funding_settled",
    "funding_time", "funding_interval_hours", "next_funding_time", "mark_price", "index_price",
    "last_anomaly_time", "last_anomaly_z",
]  # fmt: skip


def _picked_funding(raw: pd.DataFrame) -> dict[str, pd.Series | np.ndarray]:
    """Per row of ``raw`` (the snapshot statement's columns): the predicted funding when it is at least as new as
    the last settlement, else the last settled rate (next funding time: settlement time + interval, derived).
    Columns by name (``funding_rate``, ``funding_settled``, ``funding_time``, ``funding_interval_hours``,
    ``next_funding_time``), aligned with ``raw``."""
    predicted, settled = raw["predicted_time"], raw["settled_time"]
    use = (predicted.notna() & (settled.isna() | (predicted >= settled))).to_numpy()
    interval = _floats(raw["settled_interval"])
    following = raw["next_funding_time"].where(use, settled + pd.to_timedelta(interval, unit="h"))
    return {
        "funding_rate": np.where(use, _floats(raw["predicted_rate"]), _floats(raw["settled_rate"])),
        "funding_settled": ~use & settled.notna().to_numpy(),
        "funding_time": pd.to_datetime(predicted.where(use, settled), utc=True),
        "funding_interval_hours": np.where(use, _floats(raw["predicted_interval"]), interval),
        "next_funding_time": pd.to_datetime(following, utc=True),
    }


def _floats(column: pd.Series) -> np.ndarray:
    """``column`` as float64 (NULLs as NaN)."""
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _snapshot_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The :data:`SNAPSHOT_COLUMNS` frame of the snapshot statement's rows ``raw`` (funding by
    :func:`_picked_funding`, the 24 h change from the two closes), built once from its columns."""
    last = _floats(raw["last_price"])
    columns = {**{c: raw[c] for c in raw.columns}, **_picked_funding(raw), "last_price": last,
               "change_24h_pct": (last / _floats(raw["close_24h_ago"]) - 1.0) * 100.0}  # fmt: skip
    for col in ("mark_price", "index_price", "last_anomaly_z"):
        columns[col] = _floats(raw[col])
    return pd.DataFrame({c: columns[c] for c in SNAPSHOT_COLUMNS}).reset_index(drop=True)


def latest_snapshot(
    conn: Connection, exchanges: Sequence[str] | None, symbols: Sequence[str] | None, now: datetime
) -> pd.DataFrame:
    """The newest values at or before ``now`` per exchange + symbol (one row per pair, also when it has no data).

    Columns: ``exchange``, ``symbol``; ``last_price`` (close of the last-price candle with the newest open time
    among those closed by ``now`` (open + width <= ``now``: a candle opening at ``now`` closes after the view)
    over the stored timeframes, the finest on a tie; quote currency) and its ``price_time`` (candle open, UTC);
    ``change_24h_pct`` (percent: ``(last_price / close 24 h earlier − 1) × 100``, same timeframe);
    ``funding_rate`` (fraction per interval: the newest predicted rate if it is not older than the newest
    settled one, else the newest settled rate), ``funding_settled`` (bool), ``funding_time`` (UTC),
    ``funding_interval_hours``; ``next_funding_time`` (UTC: the exchange's ``nextFundingTime`` for a
    predicted rate; for a settled rate, settlement time + interval, a derived value); ``mark_price``,
    ``index_price`` (of the predicted row, quote currency; NaN otherwise); ``last_anomaly_time`` and
    ``last_anomaly_z`` (newest anomaly of any metric). ``now`` is passed in so views of bundled history work.
    Values are looked up within :data:`SNAPSHOT_LOOKBACK` before ``now`` first (older ones only for pairs with
    no price and no funding rate in that window whose data starts before ``now``, by the ``pair_extents``
    catalogue), so an anomaly older than that shows as none.

    Each value is one ``LATERAL … ORDER BY time DESC LIMIT 1`` index probe (``DISTINCT ON`` would scan
    everything: no skip scan in the Apache edition). Raises ``ValueError`` for a naive ``now``.
    """
    require_aware(now=now)
    pairs = all_pairs(conn, exchanges, symbols)
    times = ["price_time", "predicted_time", "next_funding_time", "settled_time", "last_anomaly_time", "data_first"]
    params = {**pair_params(pairs), "now": now, "since": now - SNAPSHOT_LOOKBACK}
    raw = fetch_frame(conn, text(_SNAPSHOT_BOUNDED).bindparams(**params), times)
    quiet = raw["price_time"].isna() & raw["predicted_time"].isna() & raw["settled_time"].isna()
    quiet &= raw["data_first"] <= now  # look further back only where data starts before ``now`` (catalogue)
    if quiet.any():
        again = list(zip(raw.loc[quiet, "exchange"], raw.loc[quiet, "symbol"], strict=True))
        stmt = text(_SNAPSHOT_ALL).bindparams(**pair_params(again), now=now)
        raw = pd.concat([raw[~quiet], fetch_frame(conn, stmt, times)]).sort_values(["exchange", "symbol"],
                                                                                 ignore_index=True)  # fmt: skip
    if raw.empty:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    return _snapshot_frame(raw)

