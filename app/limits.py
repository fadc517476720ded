"""Rate limits shared by every worker and host (Flask-Limiter, counters in Redis), and API key usage per day.

What is limited (:func:`request_class`), per identity (``app.auth.identity.Identity.limit_key``: the key, the
signed-in user, or the client address while sign-in is off), in fixed windows:

* ``/api/…`` (``/api/health`` exempt: load balancers) and ``/metrics``: an API key's tier
  (``ALPHAPULSE_TIER_<FREE|PRO>_PER_MINUTE`` and ``_PER_DAY``; the day is a 24-hour window from its first request),
  else ``ALPHAPULSE_API_RATE_LIMIT``;
* Dash callbacks (``/_dash-update-component``): ``ALPHAPULSE_DASH_RATE_LIMIT``;
* failed sign-ins: ``ALPHAPULSE_SIGNIN_FAILURE_LIMIT`` per user name and per client address
  (:func:`signin_blocked`, :func:`signin_failed`, used by ``app.auth.views``).

Every limited response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch
seconds); a 429 also ``Retry-After`` (seconds) and a JSON body on JSON paths. Flask-Limiter adds ``Retry-After`` to
every limited response; :func:`_retry_after_only_on_429` removes it from the others.

Counters live in Redis (``REDIS_URL`` or the embedded server), so limits are exact across workers and hosts and
survive worker restarts (gunicorn's ``max_requests``). If Redis stops answering, Flask-Limiter falls back to
in-memory counters per worker with the same limits (so limits stay on, but each worker counts alone and a
restarted worker starts from zero: up to workers × hosts × the limit) and logs "Rate limit storage unreachable"
once; it probes Redis again with growing pauses and logs "Rate limit storage recovered".

Usage of each API key per UTC day (answered and refused requests) is added up in the worker
(:class:`UsageBuffer`) and written to ``api_key_usage`` at most every :data:`USAGE_FLUSH_SECONDS` (additive
upserts, so workers and hosts never overwrite each other) and when the worker exits.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import flask
import redis
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse
from limits.errors import StorageError

from app.auth.identity import current_identity, refusal
from app.limit_storage import SCHEME_PREFIX
from db import accounts
from db.engine import get_engine
from settings import Settings

log = logging.getLogger(__name__)

#: Key of the app's :class:`Limiter` in ``Flask.extensions``.
LIMITER_KEY = "alphapulse_limiter"
#: Key of the app's :class:`UsageBuffer` in ``Flask.extensions``.
USAGE_KEY = "alphapulse_usage"
#: Seconds between writes of the usage counts of API keys.
USAGE_FLUSH_SECONDS = 5.0
#: Redis socket timeouts of the limiter (seconds): a Redis that does not answer at once counts as gone.
REDIS_TIMEOUT = 0.5
DASH_CALLBACK_PATH = "/_dash-update-component"


def storage_uri(redis_url: str) -> str:
    """The ``limits`` storage URI of a redis-py URL (``unix://`` → ``redis+unix://``), of the storage that needs one
    Redis round trip per limited request (:class:`app.limit_storage.OneTripRedisStorage`)."""
    uri = "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url
    return SCHEME_PREFIX + uri


def request_class() -> str | None:
    """``api`` (``/api/…`` but ``/api/health``, ``/metrics``), ``dash`` (Dash callbacks) or None (not limited)."""
    path = flask.request.path
    if path == "/metrics" or (path.startswith("/api/") and path != "/api/health"):
        return "api"
    if path == DASH_CALLBACK_PATH:
        return "dash"
    return None


def tier_limits(settings: Settings, tier: str) -> str:
    """The limit string of an API key tier, e.g. ``30 per minute;1000 per day``."""
    per_minute = getattr(settings, f"tier_{tier}_per_minute")
    per_day = getattr(settings, f"tier_{tier}_per_day")
    return f"{per_minute} per minute;{per_day} per day"


def _settings() -> Settings:
    return flask.current_app.config["ALPHAPULSE_SETTINGS"]


def _limit_string() -> str:
    ident, settings = current_identity(), _settings()
    if ident is not None and ident.tier is not None:
        return tier_limits(settings, ident.tier)
    return settings.dash_rate_limit if request_class() == "dash" else settings.api_rate_limit


def _limit_key() -> str:
    ident = current_identity()
    return ident.limit_key if ident is not None else f"addr:{flask.request.remote_addr}"


def _app_limit() -> ApplicationLimit:
    return ApplicationLimit(limit_provider=_limit_string, key_function=_limit_key,
                            scope=lambda _endpoint: request_class() or "none",
                            exempt_when=lambda: request_class() is None)  # fmt: skip


def _retry_after_only_on_429(response: flask.Response) -> flask.Response:
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def _too_many(exc: RateLimitExceeded) -> flask.Response:
    retry = exc.retry_after  # seconds, may be None
    return refusal(429, f"rate limit exceeded ({exc.limit.limit}); retry after {retry} s" if retry
                   else str(exc.description))  # fmt: skip


def init_limits(server: flask.Flask, settings: Settings) -> Limiter:
    """Flask-Limiter on ``server`` (module docstring), after ``app.auth.init_auth`` registered its gate (the gate
    must run first: limits depend on the identity). Returns the limiter (also in ``server.extensions``)."""
    server.after_request(_retry_after_only_on_429)  # registered first: runs after Flask-Limiter's header hook
    limiter = Limiter(
        _limit_key,
        app=server,
        application_limits=[_app_limit()],
        storage_uri=storage_uri(settings.effective_redis_url),
        storage_options={"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT},
        key_prefix=settings.redis_prefix,
        strategy="fixed-window",
        headers_enabled=True,
        retry_after="delta-seconds",
        in_memory_fallback_enabled=True,
        in_memory_fallback=[_app_limit()],
    )  # fmt: skip
    server.extensions[LIMITER_KEY] = limiter
    server.register_error_handler(RateLimitExceeded, _too_many)
    usage = UsageBuffer(settings.database_url_for("app"))
    server.extensions[USAGE_KEY] = usage
    server.after_request(usage.count)
    atexit.register(usage.flush)
    return limiter


# --- failed sign-ins --------------------------------------------------------------------------------------------


def _signin_keys(name: str, address: str) -> list[tuple[str, ...]]:
    prefix = _settings().redis_prefix
    return [(prefix, "signin-user", name), (prefix, "signin-addr", address)]


def signin_blocked(name: str, address: str) -> int | None:
    """Seconds until user ``name`` may try again from ``address``, or None when neither has used up
    ``ALPHAPULSE_SIGNIN_FAILURE_LIMIT``. A limiter storage error allows the attempt (logged by the caller's
    limiter; passwords are scrypt-hashed, which bounds guessing anyway)."""
    strategy = flask.current_app.extensions[LIMITER_KEY].limiter
    item = parse(_settings().signin_failure_limit)
    try:
        for key in _signin_keys(name, address):
            if not strategy.test(item, *key):
                reset_at = strategy.get_window_stats(item, *key).reset_time
                return max(1, int(reset_at - time.time()))
    except (StorageError, redis.RedisError, OSError) as exc:
        log.warning("sign-in failure limit not checked (limit storage error: %s)", exc)
    return None


def signin_failed(name: str, address: str) -> None:
    """Count one failed sign-in for user ``name`` and for ``address``."""
    strategy = flask.current_app.extensions[LIMITER_KEY].limiter
    item = parse(_settings().signin_failure_limit)
    try:
        for key in _signin_keys(name, address):
            strategy.hit(item, *key)
    except (StorageError, redis.RedisError, OSError) as exc:
        log.warning("failed sign-in not counted (limit storage error: %s)", exc)


# --- usage of API keys ------------------------------------------------------------------------------------------


class UsageBuffer:
    """Requests per API key and UTC day, added up in the worker and written every :data:`USAGE_FLUSH_SECONDS`."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._lock = threading.Lock()
        self._counts: Counter[tuple[int, object, int]] = Counter()  # (key id, day, refused 0/1) -> requests
        self._flushed = time.monotonic()

    def count(self, response: flask.Response) -> flask.Response:
        """After-request hook: count a key's request; write the counts when due (after the response is sent)."""
        ident = current_identity()
        if ident is None or ident.key_id is None:
            return response
        day = datetime.now(UTC).date()
        with self._lock:
            self._counts[(ident.key_id, day, int(response.status_code == 429))] += 1
            due = time.monotonic() - self._flushed >= USAGE_FLUSH_SECONDS
        if due:
            response.call_on_close(self.flush)
        return response

    def flush(self) -> None:
        """Write the counts (additive upsert); on a database error they are kept for the next try."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            self._flushed = time.monotonic()
        if not counts:
            return
        merged: dict[tuple[int, object], tuple[int, int]] = {}
        for (key_id, day, refused), n in counts.items():
            answered, limited = merged.get((key_id, day), (0, 0))
            merged[(key_id, day)] = (answered + n * (1 - refused), limited + n * refused)
        try:
            with get_engine(self._url).begin() as conn:
                accounts.add_usage(conn, merged)
        except Exception as exc:  # noqa: BLE001 - keep the counts whatever went wrong, say so
            log.warning("API key usage not written yet (%s); kept for the next try", exc)
            with self._lock:
                self._counts.update(counts)
