"""The analyst web app: Dash pages and Flask JSON API on one server (application factory).

``create_app(settings)`` builds one Flask app per call: the shared query cache (:mod:`app.cache`, Redis),
compression, sign-in and hardening (:mod:`app.auth`, :mod:`app.security`: every request passes the auth gate),
the ``/api`` blueprint and ``/metrics`` (:mod:`app.api`), rate limits shared through Redis (:mod:`app.limits`),
JSON error handlers, and the Dash pages mounted on the same server (``app.dashboard.build_dash``). gunicorn serves
``app.wsgi:app``; tests call ``create_app`` with their own settings (e.g. a ``DATABASE_URL`` of a test database).
"""

from __future__ import annotations

import flask
from flask_compress import Compress

from app.alerts_api import create_blueprint as create_alerts_blueprint
from app.api import SETTINGS_KEY, create_blueprint, prometheus_metrics
from app.api_errors import register_error_handlers
from app.api_markets import add_markets_routes
from app.api_open_interest import add_open_interest_route
from app.auth import init_auth
from app.cache import init_cache
from app.limits import init_limits
from settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, with_dashboard: bool = True) -> flask.Flask:
    """A new Flask app serving the API and (unless ``with_dashboard`` is False) the Dash pages.

    ``settings`` default to the process settings. Responses are compressed (:func:`_compression`). Raises
    ``app.auth.StartupError`` when sign-in is required (non-loopback ``ALPHAPULSE_HOST``) and the secret or users
    are missing, and whatever Dash raises for a broken page at build time.
    """
    settings = settings or get_settings()
    server = flask.Flask(__name__)
    server.config[SETTINGS_KEY] = settings
    init_cache(server, settings)
    _compression(server)
    init_auth(server, settings)  # its gate runs before the limiter's check: limits depend on who asks
    server.register_blueprint(add_markets_routes(add_open_interest_route(create_blueprint())))
    server.register_blueprint(create_alerts_blueprint())
    server.add_url_rule("/metrics", "metrics", prometheus_metrics, methods=["GET"])
    init_limits(server, settings)
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
        COMPRESS_MIMETYPES=[
            "text/html",
            "text/css",
            "text/plain",
            "text/csv",
            "application/json",
            "application/javascript",
            "text/javascript",
        ],  # fmt: skip
    )
    Compress(server)


def with_database(settings: Settings, url: str) -> Settings:
    """``settings`` aimed at the database of the owner URL ``url`` (tests and benchmarks point the app at their
    database); the app then connects as its own role where the URL allows it (``Settings.with_database``)."""
    return settings.with_database(url)
