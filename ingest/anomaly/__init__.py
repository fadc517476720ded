"""Anomalies an analyst can trust: one per observation, each metric judged by a method that fits it.

* :mod:`ingest.anomaly.specs` — method, spread floor and threshold per metric (calibrated on the bundled data);
* :mod:`ingest.anomaly.robust` — median / 1.4826 × MAD with a floor (funding rate, premium);
* :mod:`ingest.anomaly.ewma` — exponentially weighted, volatility-scaled z (1-minute log return and log volume);
* :mod:`ingest.anomaly.series` — the judged series from candles and funding rows;
* :mod:`ingest.anomaly.detect` — one anomaly row per observation, each method's z in its metadata.
"""

from ingest.anomaly.detect import frame_anomalies, judge, series_anomalies
from ingest.anomaly.series import candle_metrics, funding_interval_hours, funding_metrics, premium_metrics
from ingest.anomaly.specs import SPECS, MetricSpec

__all__ = [
    "SPECS",
    "MetricSpec",
    "candle_metrics",
    "frame_anomalies",
    "funding_interval_hours",
    "funding_metrics",
    "judge",
    "premium_metrics",
    "series_anomalies",
]
