"""The analyst web app: Dash pages and Flask JSON API on one server (application factory).

``create_app(settings)`` builds one Flask app per call: the ``/api`` blueprint and ``/metrics``
(:mod:`app.api`), Flask-Limiter on ``/api``, JSON error handlers, and the Dash pages mounted on the same
server (``app.dashboard.build_dash``). gunicorn serves ``app.wsgi:app``; tests call ``create_app`` with
their own settings (e.g. a ``DATABASE_URL`` of a test database).
"""

from __future__ import annotations

import flask
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.api import CACHE_KEY, SETTINGS_KEY, create_blueprint, prometheus_metrics, register_error_handlers
from app.cache import TTLCache
from settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, with_dashboard: bool = True) -> flask.Flask:
    """A new Flask app serving the API and (unless ``with_dashboard`` is False) the Dash pages.

    ``settings`` default to the process settings. Responses are compressed (:func:`_compression`). Rate limits
    (``ALPHAPULSE_API_RATE_LIMIT``) apply to ``/api`` per client address except ``/api/health``; storage is in
    memory, so each gunicorn worker counts on its own (the effective limit is up to workers × the setting; use a
    shared storage such as Redis if exact limits matter). Raises what Dash raises for a broken page at build time.
    """
    settings = settings or get_settings()
    server = flask.Flask(__name__)
    server.config[SETTINGS_KEY] = settings
    server.extensions[CACHE_KEY] = TTLCache(settings.api_cache_seconds)
    _compression(server)
    api = create_blueprint()
    limiter = Limiter(get_remote_address, app=server, storage_uri="memory://", headers_enabled=True)
    limiter.limit(settings.api_rate_limit, exempt_when=lambda: flask.request.endpoint == "api.health")(api)
    server.register_blueprint(api)
    server.add_url_rule("/metrics", "metrics", prometheus_metrics, methods=["GET"])
    register_error_handlers(server)
    if with_dashboard:
        from app.dashboard import build_dash

        build_dash(server, settings)
    return server


def _compression(server: flask.Flask) -> None:
    """Flask-Compress on every response the client accepts compressed (API JSON/CSV, Dash callbacks and assets).

    A 24 h, 1-minute, 5-symbol ``/api/prices`` body is ~1.3 MB of JSON and ~150 KB with zstd level 1 in ~2 ms;
    level 1 everywhere because the bodies are built per request (never cached), so compression speed matters more
    than the last few percent of size. zstd first (current browsers and curl), then Brotli, then gzip.
    """
    server.config.update(
        COMPRESS_ALGORITHM=["zstd", "br", "gzip"],
        COMPRESS_ZSTD_LEVEL=1,
        COMPRESS_BR_LEVEL=1,
        COMPRESS_LEVEL=1,
        COMPRESS_MIN_SIZE=1024,  # below ~1 KB the headers outweigh the saving
        COMPRESS_MIMETYPES=["text/html", "text/css", "text/plain", "text/csv", "application/json",
                            "application/javascript", "text/javascript"],  # fmt: skip
    )
    Compress(server)


def with_database(settings: Settings, url: str) -> Settings:
    """``settings`` aimed at the database of the owner URL ``url`` (tests and benchmarks point the app at their
    database); the app then connects as its own role where the URL allows it (``Settings.with_database``)."""
    return settings.with_database(url)
