"""AlphaPulse configuration: the one module that reads ``os.environ``.

Every tunable value of the project lives in :class:`Settings`; each field names the
environment variable that sets it and its unit. ``README.md`` documents every variable
in one table (a test checks that the table and this module agree).

Modules of the project import nothing of ours but this one for configuration, and
call :func:`get_settings` (cached per process) or :func:`load_settings` (fresh, for tests).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from settings.parsing import SettingsError, env_field, parse_value
from settings.urls import DB_ROLES, Locations, pg_url

__all__ = ["DB_ROLES", "PROJECT_ROOT", "Settings", "SettingsError", "documented_variables", "get_settings",
           "load_settings", "pg_url"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings(Locations):
    """All configuration, immutable once loaded.

    Units are in the field names or docs: ``*_seconds`` are seconds, ``*_days`` days,
    funding rates are fractions per funding interval (0.0001 = 0.01 %).
    Raises :class:`SettingsError` (from :func:`load_settings`) on a malformed value.
    """

    database_url: str = env_field(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL of a PostgreSQL+TimescaleDB database, as its owner role (migrations); also every role's URL "
        "that is not set below. Empty: the embedded local cluster, each process as its own role.",
    )
    database_ingest_url: str = env_field(
        "DATABASE_INGEST_URL", "", "URL of the ingest role (writes market data). Empty: from DATABASE_URL / embedded."
    )
    database_app_url: str = env_field(
        "DATABASE_APP_URL", "", "URL of the web app's role (reads market data). Empty: from DATABASE_URL / embedded."
    )
    database_alerts_url: str = env_field(
        "DATABASE_ALERTS_URL", "", "URL of the alerts worker's role. Empty: from DATABASE_URL / embedded."
    )
    var_dir: Path = env_field(
        "ALPHAPULSE_VAR_DIR",
        PROJECT_ROOT / "var",
        "Directory of the embedded cluster's data, socket, logs and secrets.",
    )
    local_pg_port: int = env_field("ALPHAPULSE_PG_PORT", 55432, "TCP port of the embedded cluster (127.0.0.1).")
    local_pg_db: str = env_field("ALPHAPULSE_PG_DB", "alphapulse", "Database name in the embedded cluster.")
    pg_synchronous_commit: str = env_field(
        "ALPHAPULSE_PG_SYNCHRONOUS_COMMIT",
        "on",
        "synchronous_commit of the embedded cluster (on: a commit is acknowledged once on disk; off trades the last "
        "~0.6 s of commits after a crash for write speed).",
    )
    exchanges: tuple[str, ...] = env_field(
        "ALPHAPULSE_EXCHANGES",
        ("binanceusdm", "bybit", "okx", "hyperliquid"),
        "Comma-separated ccxt exchange ids to ingest (hyperliquid: USDC-settled perpetuals, hourly funding).",
    )
    symbols: tuple[str, ...] = env_field(
        "ALPHAPULSE_SYMBOLS",
        ("BTC", "ETH", "SOL", "BNB", "XRP"),
        "Comma-separated symbols (BTC, BTC/USDT, BTCUSDT or BTC/USDT:USDT): linear perpetuals followed with 1-minute "
        "candles and a catch-up backfill of candles and settled funding. A bare coin (BTC) is the USDT-settled "
        "perpetual, or the venue's USDC-settled one where it lists no USDT one (Hyperliquid).",
    )
    funding_universe: str = env_field(
        "ALPHAPULSE_FUNDING_UNIVERSE",
        "all",
        "Symbols of the current-funding, open-interest and settled-funding streams: all (every active USDT- or "
        "USDC-settled linear perpetual of each exchange, one request per exchange and cadence where the exchange "
        "allows) or symbols (only ALPHAPULSE_SYMBOLS).",
    )
    exchange_base_url: str = env_field(
        "ALPHAPULSE_EXCHANGE_BASE_URL",
        "",
        "Point every ccxt client at this base URL (a local fake exchange in tests/benchmarks). Empty: the real APIs.",
    )
    funding_poll_seconds: float = env_field(
        "ALPHAPULSE_FUNDING_POLL_SECONDS", 60.0, "Cadence of the funding-rate stream."
    )
    ohlcv_poll_seconds: float = env_field(
        "ALPHAPULSE_OHLCV_POLL_SECONDS", 60.0, "Cadence of the 1-minute candle stream."
    )
    metrics_interval_seconds: float = env_field(
        "ALPHAPULSE_METRICS_INTERVAL_SECONDS", 5.0, "How often ingest writes system metrics."
    )
    storage_sample_seconds: float = env_field(
        "ALPHAPULSE_STORAGE_SAMPLE_SECONDS", 60.0,
        "How often ingest samples the hypertables' sizes and chunk counts (shown on the System page).",
    )
    backfill_days: int = env_field(
        "ALPHAPULSE_BACKFILL_DAYS", 7, "How far back the live worker catches up on start (days)."
    )
    retention_days: int = env_field(
        "ALPHAPULSE_RETENTION_DAYS",
        90,
        "Chunks of market hypertables older than this are dropped (days); a table holding only older history "
        "(the bundled data on a machine without internet) is left whole.",
    )
    metrics_retention_days: int = env_field(
        "ALPHAPULSE_METRICS_RETENTION_DAYS", 30, "Chunks of system_metrics older than this are dropped (days)."
    )
    retention_check_seconds: float = env_field(
        "ALPHAPULSE_RETENTION_CHECK_SECONDS", 3600.0, "How often ingest applies retention."
    )
    anomaly_window: int = env_field(
        "ALPHAPULSE_ANOMALY_WINDOW", 240, "Trailing window of the z-score, in observations of the metric's series."
    )
    anomaly_min_periods: int = env_field(
        "ALPHAPULSE_ANOMALY_MIN_PERIODS", 30, "Fewest trailing observations before a z-score is computed."
    )
    anomaly_threshold_scale: float = env_field(
        "ALPHAPULSE_ANOMALY_THRESHOLD_SCALE", 1.0,
        "Multiplies each metric's calibrated |z| threshold (ingest/anomaly/specs.py); above 1 flags fewer.",
    )
    max_abs_funding_rate: float = env_field(
        "ALPHAPULSE_MAX_ABS_FUNDING_RATE", 0.05, "Funding rates beyond ±this fraction per interval are rejected."
    )
    max_future_seconds: float = env_field(
        "ALPHAPULSE_MAX_FUTURE_SECONDS", 300.0, "Records stamped further than this in the future are rejected."
    )
    buffer_max_rows: int = env_field(
        "ALPHAPULSE_BUFFER_MAX_ROWS",
        200_000,
        "Rows ingest holds in memory while the database is unreachable; beyond, the oldest go to the spool "
        "(var/spool).",
    )
    db_lock_timeout_seconds: float = env_field(
        "ALPHAPULSE_DB_LOCK_TIMEOUT_SECONDS",
        3.0,
        "Longest wait of an ingest worker's statement for a lock (a blocked write fails, is retried, spooled at stop).",
    )
    db_statement_timeout_seconds: float = env_field(
        "ALPHAPULSE_DB_STATEMENT_TIMEOUT_SECONDS", 60.0, "Longest statement of the ingest worker's sessions (seconds)."
    )
    exchange_timeout_seconds: float = env_field(
        "ALPHAPULSE_EXCHANGE_TIMEOUT_SECONDS", 10.0, "ccxt request timeout per exchange call (seconds)."
    )
    backoff_scale: float = env_field(
        "ALPHAPULSE_BACKOFF_SCALE",
        1.0,
        "Multiplies every ingest retry delay (1: 1 s … 60 s after network errors, 5 s … 300 s after rate limits).",
    )
    dashboard_host: str = env_field("ALPHAPULSE_HOST", "127.0.0.1", "Address the dashboard (gunicorn) binds to.")
    dashboard_port: int = env_field("ALPHAPULSE_PORT", 8050, "Port the dashboard (gunicorn) binds to.")
    web_workers: int = env_field("ALPHAPULSE_WEB_WORKERS", 2, "gunicorn worker processes.")
    web_threads: int = env_field("ALPHAPULSE_WEB_THREADS", 4, "Threads per gunicorn worker (gthread worker class).")
    log_level: str = env_field("ALPHAPULSE_LOG_LEVEL", "INFO", "Python logging level of ingest and the app.")
    api_rate_limit: str = env_field(
        "ALPHAPULSE_API_RATE_LIMIT",
        "600 per minute",
        "Limit on /api and /metrics per signed-in user (per client address while sign-in is off) without an API "
        "key; keys have their tier's limits. Counted in Redis; /api/health is exempt.",
    )
    dash_rate_limit: str = env_field(
        "ALPHAPULSE_DASH_RATE_LIMIT",
        "600 per minute",
        "Limit on Dash callbacks per signed-in user (per client address while sign-in is off); an open page sends "
        "one per refresh tick (6 a minute at 10 s) and 3-4 per redraw or page load.",
    )
    api_max_range_days: int = env_field(
        "ALPHAPULSE_API_MAX_RANGE_DAYS", 400, "Longest start..end range the history endpoints accept (days)."
    )
    api_cache_seconds: float = env_field(
        "ALPHAPULSE_API_CACHE_SECONDS",
        30.0,
        "How long the shared cache keeps the list of exchange + symbol pairs with data and the symbol list "
        "(seconds).",
    )
    cache_live_seconds: float = env_field(
        "ALPHAPULSE_CACHE_LIVE_SECONDS",
        5.0,
        "How long the shared cache keeps a query result whose range ends now (live views, change checks; seconds).",
    )
    cache_past_seconds: float = env_field(
        "ALPHAPULSE_CACHE_PAST_SECONDS",
        600.0,
        "How long the shared cache keeps a query result whose range lies wholly in the past (seconds).",
    )
    database_read_url: str = env_field(
        "DATABASE_READ_URL",
        "",
        "SQLAlchemy URL of a streaming replica the app reads market data from (charts, API), as its read-only "
        "role. Empty: the app role's own URL (DATABASE_APP_URL, DATABASE_URL or the embedded cluster).",
    )
    redis_url: str = env_field(
        "REDIS_URL",
        "",
        "Redis for rate-limit counters and the query cache (redis://, rediss:// or unix://). Empty: the embedded "
        "redis-server under ALPHAPULSE_VAR_DIR (unix socket).",
    )
    redis_prefix: str = env_field(
        "ALPHAPULSE_REDIS_PREFIX", "alphapulse", "Prefix of every Redis key the app writes (several apps may share)."
    )
    auth_mode: str = env_field(
        "ALPHAPULSE_AUTH",
        "auto",
        "Sign-in: auto (required unless ALPHAPULSE_HOST is a loopback address), required, or off (loopback only).",
    )
    secret_key: str = env_field(
        "ALPHAPULSE_SECRET_KEY",
        "",
        "Signs session cookies and CSRF tokens (at least 32 characters). Required when sign-in is; on loopback "
        "without it a random key is kept in ALPHAPULSE_VAR_DIR/secret_key.",
    )
    secure_cookies: str = env_field(
        "ALPHAPULSE_SECURE_COOKIES",
        "auto",
        "Secure flag of the session and CSRF cookies: auto (on when sign-in is required: serve over HTTPS), "
        "true, false.",
    )
    session_hours: float = env_field("ALPHAPULSE_SESSION_HOURS", 12.0, "How long a sign-in lasts (hours).")
    signin_failure_limit: str = env_field(
        "ALPHAPULSE_SIGNIN_FAILURE_LIMIT",
        "5 per 15 minutes",
        "Failed sign-ins allowed per user name and, separately, per client address; beyond, 429 until the "
        "window passes.",
    )
    tier_free_per_minute: int = env_field("ALPHAPULSE_TIER_FREE_PER_MINUTE", 30, "Requests per minute of a free key.")
    tier_free_per_day: int = env_field(
        "ALPHAPULSE_TIER_FREE_PER_DAY", 1000, "Requests per day of a free key (24-hour window from its first request)."
    )
    tier_pro_per_minute: int = env_field("ALPHAPULSE_TIER_PRO_PER_MINUTE", 300, "Requests per minute of a pro key.")
    tier_pro_per_day: int = env_field(
        "ALPHAPULSE_TIER_PRO_PER_DAY", 50000, "Requests per day of a pro key (24-hour window from its first request)."
    )
    trusted_proxies: int = env_field(
        "ALPHAPULSE_TRUSTED_PROXIES",
        0,
        "Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (werkzeug ProxyFix); "
        "0: the client address is the socket's.",
        minimum=0,
    )
    access_log: str = env_field(
        "ALPHAPULSE_ACCESS_LOG",
        "",
        "gunicorn access log file. Empty: ALPHAPULSE_VAR_DIR/log/access.log; '-': standard output.",
    )
    alert_channels: str = env_field(
        "ALPHAPULSE_ALERT_CHANNELS",
        "",
        "Alert notification channels, name=apprise-url;name2=url (e.g. desk=slack://…;hook=json://host:9000/). "
        "Secrets stay here: the database and every response hold channel names only. Empty: in-app alerts only.",
    )
    alert_default_channels: tuple[str, ...] = env_field(
        "ALPHAPULSE_ALERT_DEFAULT_CHANNELS",
        (),
        "Comma-separated channel names a rule without its own channels notifies. Empty: every configured channel.",
    )
    alert_eval_seconds: float = env_field(
        "ALPHAPULSE_ALERT_EVAL_SECONDS", 15.0, "Cadence of the alerts worker's evaluation cycle (seconds)."
    )
    dashboard_base_url: str = env_field(
        "ALPHAPULSE_DASHBOARD_URL",
        "",
        "Base URL of the dashboard as people reach it, for links in alert messages. Empty: "
        "http://ALPHAPULSE_HOST:ALPHAPULSE_PORT.",
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``).

    Unset or empty variables take the field's default. Raises :class:`SettingsError`
    naming the variable when a value cannot be parsed (non-numeric, non-positive, empty list).
    """
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        raw = environ.get(f.metadata["env"], "")
        if raw.strip():
            values[f.name] = parse_value(raw.strip(), f.default, f.metadata["env"], f.metadata["minimum"])
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide :class:`Settings`, read once from ``os.environ``."""
    return load_settings()


def documented_variables() -> list[tuple[str, object, str]]:
    """``(ENV_NAME, default, doc)`` for every setting, in declaration order (for README/tests)."""
    return [(f.metadata["env"], f.default, f.metadata["doc"]) for f in fields(Settings)]
