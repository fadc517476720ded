"""The shared query cache in a real Redis: a second identical view is a hit on another app instance (another
worker or host) and returns the same data without querying; live and past ranges get their own time to live;
the hit ratio shows in ``/metrics``."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from app import controls, create_app, with_database
from app.cache import PAST_MARGIN, shared_cache, ttl_for
from app.refresh import cached_view
from settings import get_settings

#: The view: two symbols, 7 days anchored inside the bundled history.
VIEW = {"symbols": "BTC/USDT,ETH/USDT", "exchange": "binanceusdm", "range": "7d", "end": "2025-06-20T00:00Z"}


def _draw_data(app, calls: list) -> dict:
    """The overview's data for :data:`VIEW` through the cache, as its draw callback gets it."""
    overview = sys.modules["pages.overview"]  # the module as Dash pages imported it (create_app)

    state = controls.with_defaults(controls.parse_query(VIEW))
    start, end = state.window(datetime.now(UTC))
    bucket = overview.queries.choose_bucket(start, end)

    def compute():
        calls.append(1)
        return overview._query(state, start, end, bucket)

    with app.test_request_context("/_dash-update-component", method="POST"):
        return cached_view(overview.P, state, start, end, compute, bucket, None)


def test_a_second_identical_view_is_a_hit_on_another_instance(recorded_db_url, redis_prefix, redis_client):
    settings = replace(with_database(get_settings(), recorded_db_url), redis_prefix=redis_prefix)
    worker_a, worker_b = create_app(settings), create_app(settings)
    calls = []
    first = _draw_data(worker_a, calls)
    second = _draw_data(worker_b, calls)
    assert len(calls) == 1  # the second view did not query
    assert not first["prices"].empty and second["prices"].equals(first["prices"])
    assert second["funding"].equals(first["funding"]) and second["counts"].equals(first["counts"])
    with worker_b.test_request_context():
        stats = shared_cache().stats()
    assert (stats.hits, stats.misses, stats.ratio) == (1, 1, 0.5)
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}:cache:*overview:*")]
    assert len(keys) == 1 and redis_client.ttl(keys[0]) == int(settings.cache_past_seconds)  # a past range
    families = {f.name: f for f in text_string_to_metric_families(worker_a.test_client().get("/metrics").text)}
    lookups = {s.labels["result"]: s.value for s in families["alphapulse_cache_lookups"].samples}
    assert lookups["hit"] >= 1 and lookups["miss"] >= 1
    assert families["alphapulse_cache_hit_ratio"].samples[0].value == lookups["hit"] / sum(lookups.values())


def test_live_ranges_are_kept_briefly_and_past_ranges_longer():
    settings, now = get_settings(), datetime(2026, 1, 1, tzinfo=UTC)
    assert ttl_for(settings, now, now) == settings.cache_live_seconds
    assert ttl_for(settings, now - PAST_MARGIN + timedelta(seconds=1), now) == settings.cache_live_seconds
    assert ttl_for(settings, now - PAST_MARGIN, now) == settings.cache_past_seconds
    assert settings.cache_live_seconds < settings.cache_past_seconds


def test_identical_api_requests_share_one_entry(recorded_db_url, redis_prefix):
    settings = replace(with_database(get_settings(), recorded_db_url), redis_prefix=redis_prefix)
    url = "/api/prices?symbols=BTC&exchange=binanceusdm&start=2025-06-10T00:00Z&end=2025-06-11T00:00Z"
    first = create_app(settings, with_dashboard=False).test_client().get(url)
    app_b = create_app(settings, with_dashboard=False)
    second = app_b.test_client().get(url)
    assert first.status_code == second.status_code == 200 and first.get_json() == second.get_json()
    with app_b.test_request_context():
        stats = shared_cache().stats()
    assert stats.hits >= 2 and stats.misses >= 2  # known pairs + the series, each computed once
