"""Prometheus text exposition of the pipeline's state, built per scrape with ``prometheus_client``.

The app does not count its own requests here (several gunicorn workers would each hold their own counters;
gunicorn's access log records every request with its duration). What it exports is read from the database at
scrape time, so every worker answers the same:

* ``alphapulse_pipeline_<metric>{labels…}`` — the newest value of each metric ingest writes to
  ``system_metrics`` (unit in the HELP text; the sample carries the row's timestamp);
* ``alphapulse_feed_lag_seconds{exchange,stream}`` and ``alphapulse_feed_cadence_seconds{exchange,stream}``;
* ``alphapulse_feed_status{exchange,stream,status}`` — 1 for the feed's current status (``db.health``), else 0;
* ``alphapulse_health_status{status}`` — the same for the overall status ``/api/health`` reports;
* ``alphapulse_cache_lookups_total{result="hit"|"miss"}`` and ``alphapulse_cache_hit_ratio`` — the shared query
  cache (Redis counters of every worker and host, :mod:`app.cache`); ``alphapulse_cache_available`` 1/0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.cache import CacheStats
from db.health import Status
from db.queries import FeedHealth

PREFIX = "alphapulse_"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(name: str) -> str:
    """A valid Prometheus metric name for ingest's metric ``name`` (invalid characters -> ``_``, prefixed)."""
    return PREFIX + "pipeline_" + _INVALID.sub("_", name)


def _pipeline_families(latest: pd.DataFrame) -> Iterator[Metric]:
    for metric, group in latest.groupby("metric", sort=True):
        keys = sorted({k for labels in group["labels"] for k in labels})
        label_names = [_INVALID.sub("_", k) for k in keys]
        unit = group["unit"].iloc[0]
        family = GaugeMetricFamily(metric_name(metric), f"{metric} ({unit}), newest value written by ingest",
                                   labels=label_names)  # fmt: skip
        for row in group.itertuples(index=False):
            values = [str(row.labels.get(k, "")) for k in keys]
            family.add_metric(values, float(row.value), timestamp=row.time.timestamp())
        yield family


def _feed_families(health: FeedHealth) -> Iterator[Metric]:
    lag = GaugeMetricFamily(PREFIX + "feed_lag_seconds", "seconds since the feed's newest data",
                            labels=["exchange", "stream"])  # fmt: skip
    cadence = GaugeMetricFamily(PREFIX + "feed_cadence_seconds", "expected seconds between rows of the feed",
                                labels=["exchange", "stream"])  # fmt: skip
    status = GaugeMetricFamily(PREFIX + "feed_status", "1 for the feed's current status (ok/degraded/down)",
                               labels=["exchange", "stream", "status"])  # fmt: skip
    for row in health.feeds.itertuples(index=False):
        if pd.notna(row.lag_seconds):
            lag.add_metric([row.exchange, row.stream], row.lag_seconds)
        cadence.add_metric([row.exchange, row.stream], row.cadence_seconds)
        for s in Status:
            status.add_metric([row.exchange, row.stream, s.value], 1.0 if row.status == s else 0.0)
    overall = GaugeMetricFamily(PREFIX + "health_status", "1 for the pipeline's overall status (as /api/health)",
                                labels=["status"])  # fmt: skip
    for s in Status:
        overall.add_metric([s.value], 1.0 if health.status == s else 0.0)
    yield from (lag, cadence, status, overall)


def _cache_families(cache: CacheStats) -> Iterator[Metric]:
    lookups = CounterMetricFamily(PREFIX + "cache_lookups", "shared query cache lookups (every worker and host)",
                                  labels=["result"])  # fmt: skip
    lookups.add_metric(["hit"], cache.hits)
    lookups.add_metric(["miss"], cache.misses)
    yield lookups
    if cache.ratio is not None:
        yield GaugeMetricFamily(PREFIX + "cache_hit_ratio", "hits / lookups of the shared query cache", cache.ratio)
    yield GaugeMetricFamily(PREFIX + "cache_available", "1 when the cache's Redis answered", float(cache.available))


class _SnapshotCollector:
    """A collector over values already read from the database and Redis (one per scrape)."""

    def __init__(self, latest: pd.DataFrame, health: FeedHealth, cache: CacheStats | None) -> None:
        self._latest = latest
        self._health = health
        self._cache = cache

    def collect(self) -> Iterator[Metric]:
        yield from _pipeline_families(self._latest)
        yield from _feed_families(self._health)
        if self._cache is not None:
            yield from _cache_families(self._cache)


def render_metrics(latest: pd.DataFrame, health: FeedHealth, cache: CacheStats | None = None) -> tuple[bytes, str]:
    """``(body, content_type)`` of the exposition for ``latest`` (``db.queries.latest_metrics``), ``health`` and
    the shared cache's counters ``cache`` (``app.cache.SharedCache.stats``; None: left out)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(latest, health, cache))
    return generate_latest(registry), CONTENT_TYPE_LATEST
