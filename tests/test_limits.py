"""Rate limits in a real Redis: shared by app instances and across restarts, API key tiers with their headers,
usage per key and day, revoked keys, Dash callbacks, trusted proxies, and Redis going away (limits fall back to
per-worker memory, requests keep being served).

Two gunicorn processes on one Redis stand for two app hosts. Each test uses a Redis key prefix of its own.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import replace

from sqlalchemy import text

from app import create_app, with_database
from app.limits import USAGE_KEY
from db.redislocal import LocalRedis
from settings import get_settings
from tests.web_helpers import SECRET, add_user, cli, create_key, gunicorn


def _get(base: str, path: str, key: str | None = None) -> tuple[int, dict, dict]:
    """``(status, headers, body)`` of a GET over real HTTP (errors included); JSON bodies decoded."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        response = exc
    with response:
        body = response.read()
        json_body = response.headers.get_content_type() == "application/json"
        return response.status, dict(response.headers), json.loads(body) if json_body else body


def test_limits_are_shared_by_two_app_instances_and_survive_a_restart(accounts_db, redis_prefix, tmp_path):
    env = {"DATABASE_URL": accounts_db, "ALPHAPULSE_REDIS_PREFIX": redis_prefix,
           "ALPHAPULSE_API_RATE_LIMIT": "6 per minute"}  # fmt: skip
    with gunicorn(env, tmp_path / "a.log") as host_a, gunicorn(env, tmp_path / "b.log") as host_b:
        answers = [_get(host, "/api/metrics") for host in (host_a, host_b) * 3]
        assert [status for status, _, _ in answers] == [200] * 6
        assert [int(h["X-RateLimit-Remaining"]) for _, h, _ in answers] == [5, 4, 3, 2, 1, 0]
        assert all(h["X-RateLimit-Limit"] == "6" and "Retry-After" not in h for _, h, _ in answers)
        status, headers, body = _get(host_b, "/api/metrics")
        assert status == 429 and body["status"] == 429 and "6 per 1 minute" in body["error"]
        assert 0 < int(headers["Retry-After"]) <= 60 and headers["X-RateLimit-Remaining"] == "0"
        assert _get(host_a, "/api/health")[0] == 503  # not limited (old history only: down)
    with gunicorn(env, tmp_path / "a2.log") as restarted:  # a new process: the count is in Redis
        assert _get(restarted, "/metrics")[0] == 429  # /metrics shares the /api limit


def test_api_key_tiers_headers_usage_and_revocation(monkeypatch, accounts_db, redis_prefix, engine, tmp_path):
    add_user(monkeypatch, accounts_db, "quant", admin=False)
    free_id, free = create_key(monkeypatch, accounts_db, "quant", "free")
    _, pro = create_key(monkeypatch, accounts_db, "quant", "pro")
    env = {"DATABASE_URL": accounts_db, "ALPHAPULSE_REDIS_PREFIX": redis_prefix, "ALPHAPULSE_AUTH": "required",
           "ALPHAPULSE_SECRET_KEY": SECRET, "ALPHAPULSE_TIER_FREE_PER_MINUTE": "3",
           "ALPHAPULSE_TIER_PRO_PER_MINUTE": "10", "ALPHAPULSE_TIER_PRO_PER_DAY": "4"}  # fmt: skip
    with gunicorn(env, tmp_path / "keys.log") as base:
        assert _get(base, "/api/metrics")[0] == 401
        assert _get(base, "/api/metrics", "ap_not-a-key")[0] == 401
        free_answers = [_get(base, path, free) for path in ("/api/metrics", "/metrics", "/api/symbols", "/metrics")]
        assert [s for s, _, _ in free_answers] == [200, 200, 200, 429]
        assert [h["X-RateLimit-Limit"] for _, h, _ in free_answers] == ["3"] * 4
        assert [h["X-RateLimit-Remaining"] for _, h, _ in free_answers] == ["2", "1", "0", "0"]
        assert "Retry-After" in free_answers[-1][1] and "Retry-After" not in free_answers[0][1]
        pro_answers = [_get(base, "/api/metrics", pro)[0] for _ in range(5)]
        assert pro_answers == [200, 200, 200, 200, 429]  # its per-day limit (4) binds before 10 per minute
        assert _get(base, "/api/metrics", pro)[1]["X-RateLimit-Limit"] == "4"
        assert cli(monkeypatch, accounts_db, "key-revoke", str(free_id))[0] == 0
        status, _, body = _get(base, "/api/metrics", free)
        assert status == 401 and body["error"] == "invalid or revoked API key"
    # the worker wrote its usage counts when it stopped
    with engine.connect() as conn:
        usage = {
            r.label: (r.requests, r.limited)
            for r in conn.execute(
                text("SELECT k.label, u.requests, u.limited FROM api_key_usage u JOIN api_keys k ON k.id = u.key_id")
            )
        }
    assert usage == {"free test key": (3, 1), "pro test key": (4, 2)}


def test_a_key_opens_the_api_only(monkeypatch, accounts_db, engine):
    add_user(monkeypatch, accounts_db, "bot")
    _, key = create_key(monkeypatch, accounts_db, "bot")
    settings = replace(with_database(get_settings(), accounts_db), auth_mode="required", secret_key=SECRET)
    app = create_app(settings, with_dashboard=False)
    client = app.test_client()
    assert client.get("/api/symbols", headers={"X-API-Key": key}).status_code == 200
    page = client.get("/", headers={"X-API-Key": key})
    assert page.status_code == 403 and "API keys are accepted on /api" in page.get_json()["error"]
    post = client.post("/api/symbols", headers={"Authorization": f"Bearer {key}"})
    assert post.status_code == 405  # no CSRF token needed with a key; the route has no POST
    app.extensions[USAGE_KEY].flush()  # what the worker does every 5 s and when it stops
    with engine.connect() as conn:
        assert conn.execute(text("SELECT requests, limited FROM api_key_usage")).one() == (2, 0)


def test_dash_callbacks_are_limited_per_user(accounts_db, redis_prefix):
    settings = replace(with_database(get_settings(), accounts_db), redis_prefix=redis_prefix,
                       dash_rate_limit="2 per minute")  # fmt: skip
    client = create_app(settings).test_client()
    client.get("/")
    token = client.get_cookie("_csrf_token").value
    body = {
        "output": "view-query.data",
        "outputs": {"id": "view-query", "property": "data"},
        "inputs": [{"id": "url", "property": "search", "value": ""}],
        "changedPropIds": [],
        "state": [],
    }
    answers = [client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token}) for _ in range(3)]
    assert [a.status_code != 429 for a in answers] == [True, True, False]
    assert answers[-1].get_json()["status"] == 429 and answers[-1].headers["X-RateLimit-Limit"] == "2"
    assert client.get("/anomalies").status_code == 200  # page loads are not limited


def test_client_address_comes_from_trusted_proxies_only(accounts_db, redis_prefix):
    base = replace(with_database(get_settings(), accounts_db), redis_prefix=redis_prefix, api_rate_limit="2 per hour")
    direct = create_app(base, with_dashboard=False).test_client()
    spoofed = [direct.get("/api/metrics", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
               for i in range(3)]  # fmt: skip
    assert spoofed == [200, 200, 429]  # the header is ignored: one client
    proxied = create_app(replace(base, trusted_proxies=1, redis_prefix=redis_prefix + "-p"),
                         with_dashboard=False).test_client()  # fmt: skip
    for client_address in ("203.0.113.7", "203.0.113.8"):
        headers = {"X-Forwarded-For": client_address}
        assert [proxied.get("/api/metrics", headers=headers).status_code for _ in range(3)] == [200, 200, 429]


def test_requests_are_served_when_redis_goes_away(accounts_db, redis_prefix, tmp_path, caplog):
    private = LocalRedis(tmp_path / "redis")
    settings = replace(with_database(get_settings(), accounts_db), redis_url=private.start(),
                       redis_prefix=redis_prefix, api_rate_limit="3 per minute")  # fmt: skip
    client = create_app(settings, with_dashboard=False).test_client()
    assert [client.get("/api/symbols").status_code for _ in range(2)] == [200, 200]
    private.stop()
    with caplog.at_level(logging.WARNING):
        after = [client.get("/api/symbols").status_code for _ in range(5)]
    assert after == [200, 200, 200, 429, 429]  # in-memory fallback: this worker counts from zero, limit kept
    messages = [r.getMessage() for r in caplog.records]
    assert sum("falling back to in-memory storage" in m for m in messages) == 1
    assert sum(re.search("shared cache: Redis unavailable", m) is not None for m in messages) == 1
