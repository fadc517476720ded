"""Which method judges each anomaly metric, its spread floor and its |z| threshold (defaults calibrated on the
bundled real data with ``make bench-anomalies``; ``settings.anomaly_threshold_scale`` scales every threshold).

Judged units (the floor is in these): ``funding_rate`` as a fraction **per hour** (the settled rate ÷ the
symbol's funding interval, so 1 h, 4 h and 8 h venues are judged alike), ``premium`` as a fraction
((mark − index) / index), ``log_return_1m`` and ``log_volume_1m`` as natural logs.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Neutral funding rate when premium is nil: the interest-rate component 0.01 % per 8 h (Binance, "Introduction
#: to Binance Futures Funding Rates"; Bybit and OKX use the same 0.03 % per day), as a fraction per hour.
NEUTRAL_FUNDING_PER_HOUR = 0.0001 / 8


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """``method``: ``robust`` (median / 1.4826 × MAD, :mod:`ingest.anomaly.robust`) or ``ewma`` (exponentially
    weighted, :mod:`ingest.anomaly.ewma`); ``floor``: smallest spread (judged unit) a z-score may be computed on;
    ``threshold``: |z| at or above which an observation is an anomaly (before the setting's scale);
    ``half_life``: of the ewma weights, observations; ``zero_centre``: ewma centred on 0 (returns)."""

    method: str
    floor: float
    threshold: float
    half_life: float = 60.0
    zero_centre: bool = False


SPECS: dict[str, MetricSpec] = {
    # The neutral rate itself (0.01 % per 8 h, 11 % annualised): rates sit on it for long stretches (MAD 0, |z| of
    # 700 on a 0.008 % dip); a quarter of it still flagged 3-6 % of settlements, the neutral rate 0.1-0.5 %.
    "funding_rate": MetricSpec("robust", NEUTRAL_FUNDING_PER_HOUR, 8.0),
    # Half a basis point: below the resolution of the mark and index prices of a quiet book.
    "premium": MetricSpec("robust", 0.5e-4, 8.0),
    # Half a basis point of 1-minute log return: a few price ticks of the majors.
    "log_return_1m": MetricSpec("ewma", 0.5e-4, 8.0, zero_centre=True),
    # 5 % of 1-minute volume: volume is reported to a few significant digits on thin minutes.
    "log_volume_1m": MetricSpec("ewma", 0.05, 6.0),
}
