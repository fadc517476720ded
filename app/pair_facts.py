"""Per exchange + symbol facts of one Overview draw (funding trend, anomaly summary), computed once for all of its
cards and comparison-table rows (:mod:`app.components`). Pure: no database, no clock."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd


class PairFacts:
    """Per exchange + symbol lookups the overview's cards and table rows read, built once per draw from
    ``funding`` (``db.queries.funding_series`` rows: ``exchange``, ``symbol``, ``time``, ``settled``,
    ``funding_rate`` fraction per interval) and ``counts`` (``db.queries.anomaly_counts``: one row per
    exchange + symbol + metric), instead of filtering both frames again for every card and row."""

    def __init__(self, funding: pd.DataFrame, counts: pd.DataFrame) -> None:
        self._settled: dict[tuple[str, str], list[float]] = {}
        if not funding.empty:
            rates = funding["funding_rate"]
            rows = np.flatnonzero(funding["settled"].to_numpy(dtype=bool) & rates.notna().to_numpy())
            times = funding["time"].to_numpy(dtype="datetime64[ns]")  # UTC; not an array of Timestamp objects
            rows = rows[np.argsort(times[rows], kind="stable")]  # settled rows by time
            for exchange, symbol, rate in zip(*(funding[c].to_numpy()[rows] for c in ("exchange", "symbol")),
                                              rates.to_numpy()[rows], strict=True):  # fmt: skip
                self._settled.setdefault((exchange, symbol), []).append(rate)  # oldest first
        self._anomalies: dict[tuple[str, str], tuple[int, float | None, datetime | None]] = {}
        names = ("exchange", "symbol", "anomalies", "max_abs_z", "max_z_time")
        rows = zip(*(counts[c] for c in names), strict=True) if len(counts) else ()
        for exchange, symbol, count, max_z, max_z_time in rows:
            total, best, when = self._anomalies.get((exchange, symbol), (0, None, None))
            if pd.notna(max_z) and (best is None or max_z > best):  # the first row of largest |z| wins, as idxmax
                best, when = float(max_z), max_z_time
            self._anomalies[(exchange, symbol)] = (total + int(count), best, when)

    def trend(self, exchange: str, symbol: str, current: float | None, settled: bool) -> str:
        """Trend arrow of the funding rate of one pair: ``"↑"``, ``"↓"`` or ``"→"`` (``""`` when unknown).

        Compares the current rate with the last settled rate (when the current one is a prediction) or with the
        settled rate before it (when the current one is itself settled)."""
        if current is None or (isinstance(current, float) and math.isnan(current)):
            return ""
        rates = self._settled.get((exchange, symbol), [])
        if settled:
            rates = rates[:-1]
        if not rates:
            return ""
        previous = rates[-1]
        return "↑" if current > previous else "↓" if current < previous else "→"

    def anomalies(self, exchange: str, symbol: str) -> tuple[int, float | None, datetime | None]:
        """``(count, max |z|, UTC time of that max |z|)`` of one pair's anomalies over every metric."""
        return self._anomalies.get((exchange, symbol), (0, None, None))
