"""Typed rows of the four hypertables, and their column order for bulk frames.

One frozen dataclass per kind of data (cryptofeed's habit). Units: times are timezone-aware UTC
``datetime``; prices are in the quote currency; funding rates are fractions per funding interval
(0.0001 = 0.01 %); volumes in base-asset units (``volume``) and quote currency (``quote_volume``).

Bulk paths (recorded history, backfill, benchmark) carry the same columns as ``pandas.DataFrame``:
:data:`CANDLE_COLUMNS`, :data:`FUNDING_COLUMNS`, :data:`ANOMALY_COLUMNS`, :data:`METRIC_COLUMNS`, with
``time``/``next_funding_time`` as ``datetime64[ns|us, UTC]``. :func:`rows_to_frame` converts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import pandas as pd

# The column order of each table lives with the writers (ingest imports db, never the reverse).
from db.writes import ANOMALY_COLUMNS, CANDLE_COLUMNS, FUNDING_COLUMNS, METRIC_COLUMNS, OPEN_INTEREST_COLUMNS

__all__ = ["ANOMALY_COLUMNS", "CANDLE_COLUMNS", "FUNDING_COLUMNS", "METRIC_COLUMNS", "OPEN_INTEREST_COLUMNS",
           "AnomalyRow", "CandleRow", "FundingRow", "MetricRow", "OpenInterestRow", "rows_to_frame"]


@dataclass(frozen=True, slots=True)
class CandleRow:
    """One closed OHLCV candle (table ``prices``); ``time`` is the candle open time (UTC)."""

    time: datetime
    exchange: str
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None
    quote_volume: float | None = None
    timeframe: str = "1m"
    price_kind: str = "last"


@dataclass(frozen=True, slots=True)
class FundingRow:
    """One funding observation (table ``funding_rates``).

    ``settled=True``: the rate settled at ``time`` (exchange ``fundingTime``). ``settled=False``: the
    current/predicted rate of the running interval, observed at ``time``; ``next_funding_time`` is when it
    settles. ``funding_interval_hours`` is the symbol's own interval (8, 4, 1 …), ``None`` when unknown —
    never assumed 8 h.
    """

    time: datetime
    exchange: str
    symbol: str
    settled: bool
    funding_rate: float
    funding_interval_hours: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    next_funding_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    """One z-score anomaly (table ``anomalies``): ``z_score = (value - centre) / spread``."""

    time: datetime
    exchange: str
    symbol: str
    metric: str
    method: str
    value: float
    centre: float
    spread: float
    z_score: float
    threshold: float
    window: int


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One pipeline-health sample (table ``system_metrics``); ``labels`` e.g. ``{"exchange": …, "stream": …}``."""

    time: datetime
    metric: str
    value: float
    unit: str
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OpenInterestRow:
    """One open-interest observation (table ``open_interest``) at ``time`` (UTC): ``open_interest_contracts``
    (contracts), ``open_interest_base`` (base-asset units), ``open_interest_value`` (quote-currency notional);
    ``source`` is ``live``, ``history`` or ``recorded``."""

    time: datetime
    exchange: str
    symbol: str
    source: str
    open_interest_contracts: float | None = None
    open_interest_base: float | None = None
    open_interest_value: float | None = None


_COLUMNS = {CandleRow: CANDLE_COLUMNS, FundingRow: FUNDING_COLUMNS, AnomalyRow: ANOMALY_COLUMNS,
            MetricRow: METRIC_COLUMNS, OpenInterestRow: OPEN_INTEREST_COLUMNS}


def rows_to_frame(rows: list, row_type: type) -> pd.DataFrame:
    """A DataFrame with ``row_type``'s columns (in table order) from a list of rows of that type.

    An empty list gives an empty frame with the right columns. Raises ``KeyError`` for an unknown type.
    """
    columns = list(_COLUMNS[row_type])
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame = pd.DataFrame([asdict(r) for r in rows])
    return frame[columns]
