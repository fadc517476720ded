"""Shared fixtures: a real TimescaleDB database, migrated to head, fresh for the test session, and a real Redis.

With ``DATABASE_URL`` unset the embedded local cluster is started (or reused); the session
creates its own database ``alphapulse_test_<random>`` on that server, runs ``alembic upgrade
head`` into it, and drops it at the end. ``clean_db`` empties every hypertable before a test.

Redis (:func:`pytest_configure`): ``REDIS_URL`` when set and answering, else the embedded redis-server under
``./var`` (``db.redislocal``, started if needed, left running like the database); the session's keys get a prefix
of their own (``ALPHAPULSE_REDIS_PREFIX=alphapulse-test-<random>``), so sessions and engineers sharing a server
never see each other's counters or cache entries, and :func:`redis_client` removes them at the end. Rate limits
of the session default to 100,000 per minute (tests of limits set their own), so unrelated tests never meet them.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, make_url, text

from db.engine import make_engine
from db.local import LocalCluster
from db.schema import HYPERTABLES
from db.summaries import SUMMARY_TABLES
from settings import PROJECT_ROOT, get_settings, load_settings

ARTIFACTS = PROJECT_ROOT / "artifacts"

#: The local fake exchange fixtures (``fake_exchange``, ``fake_exchange_server``).
pytest_plugins = ["tests.fake_exchange.fixtures", "tests.ui_helpers"]

#: Limits of the test session unless a test sets its own.
TEST_RATE_LIMIT = "100000 per minute"


def pytest_configure(config):
    """Point the session (and the servers its tests start, which inherit the environment) at a real Redis with a
    key prefix of its own (module docstring), before any settings are read."""
    from db.redislocal import LocalRedis, answers

    url = os.environ.get("REDIS_URL", "")
    if not url or not answers(url):
        url = LocalRedis.from_settings(load_settings()).start()
    os.environ["REDIS_URL"] = url
    os.environ["ALPHAPULSE_REDIS_PREFIX"] = f"alphapulse-test-{uuid.uuid4().hex[:10]}"
    os.environ.setdefault("ALPHAPULSE_API_RATE_LIMIT", TEST_RATE_LIMIT)
    os.environ.setdefault("ALPHAPULSE_DASH_RATE_LIMIT", TEST_RATE_LIMIT)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _usage_written(monkeypatch) -> Iterator[None]:
    """API-key usage counted by the apps a test creates is written when the test ends, while its database exists.
    A worker writes it every few seconds and at interpreter exit (``app.limits.UsageBuffer``); at the exit of a
    test session the databases it wrote to are dropped, and each app's last counts would only be logged as not
    written."""
    from app import limits

    made: list[limits.UsageBuffer] = []
    init = limits.UsageBuffer.__init__

    def record(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(limits.UsageBuffer, "__init__", record)
    yield
    for usage in made:
        usage.flush()


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """A client of the session's Redis; every key of the session's prefix is deleted at the end."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    yield client
    delete_keys(client, os.environ["ALPHAPULSE_REDIS_PREFIX"])
    client.close()


def delete_keys(client: redis.Redis, prefix: str) -> int:
    """Delete every key containing ``prefix`` (the cache's and Flask-Limiter's ``LIMITER/<prefix>/…``)."""
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    return client.delete(*keys) if keys else 0


def alembic_config(url: str, stdout: TextIO = sys.stdout) -> Config:
    """An alembic Config for the project's migrations aimed at ``url``; messages go to ``stdout``."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=stdout)
    cfg.attributes["database_url"] = url
    cfg.attributes["skip_logging_config"] = True
    return cfg


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the server under test: ``DATABASE_URL`` or the embedded cluster (started if needed)."""
    settings = get_settings()
    if settings.uses_local_cluster:
        return LocalCluster.from_settings(settings).start()
    return settings.database_url


@pytest.fixture(scope="session")
def db_url(server_url: str) -> Iterator[str]:
    """A fresh database on the server under test, migrated to head; dropped after the session."""
    yield from _fresh_database(server_url)


@pytest.fixture(scope="session")
def recorded_db_url(server_url: str) -> Iterator[str]:
    """A second fresh database (migrated to head) holding the bundled real history, loaded once through
    INGEST's loader (``ingest.recorded.load_recorded``: validate -> anomalies -> writes -> 15-minute and 1-hour
    rollups).
    Read-only for tests: API and browser tests compare what they show with this database."""
    from ingest.recorded import load_recorded

    for url in _fresh_database(server_url):
        eng = make_engine(url)
        load_recorded(eng, get_settings())
        eng.dispose()
        yield url


@pytest.fixture(scope="session")
def recorded_engine(recorded_db_url: str) -> Iterator[Engine]:
    """Engine on the database with the bundled history (:func:`recorded_db_url`); do not write through it."""
    eng = make_engine(recorded_db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def scratch_url(server_url: str) -> Iterator[str]:
    """An empty database (not migrated) for one test that runs migrations itself; dropped after the test."""
    yield from _fresh_database(server_url, migrate=False)


def _fresh_database(server_url: str, migrate: bool = True) -> Iterator[str]:
    """Create ``alphapulse_test_<random>`` on the server, migrate it to head (unless ``migrate`` is False), yield
    its URL, drop it after."""
    name = f"alphapulse_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(make_url(server_url).set(database="postgres").render_as_string(False), pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """Engine on the session's test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def role_url(owner_url: str, job: str) -> str:
    """The URL of the role of ``job`` (``ingest``, ``app``, ``alerts``) on the database of ``owner_url`` (the embedded
    cluster: same passfile; an external ``DATABASE_URL``: as configured, see ``Settings.with_database``)."""
    return get_settings().with_database(owner_url).database_url_for(job)


@pytest.fixture(scope="session")
def ingest_engine(db_url: str) -> Iterator[Engine]:
    """Engine on the session's test database as the ingest role (what ``python -m ingest`` connects as)."""
    eng = make_engine(role_url(db_url, "ingest"))
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine: Engine, redis_client: redis.Redis) -> Engine:
    """The test database with every hypertable emptied (chunks dropped) before the test, and the session's
    Redis keys (query cache, counters) removed: cached results of the old rows would outlive them."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE pair_extents, " + ", ".join(t.name for t in SUMMARY_TABLES + HYPERTABLES)))
    delete_keys(redis_client, os.environ["ALPHAPULSE_REDIS_PREFIX"])
    return engine


@pytest.fixture
def accounts_db(engine: Engine, db_url: str) -> str:
    """URL of the session database with no users, API keys or usage (the app's own tables emptied)."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE users, api_keys, api_key_usage"))
    return db_url


@pytest.fixture
def redis_prefix(redis_client: redis.Redis, request) -> str:
    """A Redis key prefix of this test alone (inside the session's, so the session removes its keys too)."""
    return f"{os.environ['ALPHAPULSE_REDIS_PREFIX']}-{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``artifacts/`` at the project root (git-ignored): screenshots and benchmark output."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


#: Debian's Chromium and the flags the browser tests need (headless, no sandbox as root, no GPU, /dev/shm may be
#: small in containers, no background traffic to the internet).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--window-size=1366,900",
)


def pytest_setup_options():
    """dash.testing hook: the ChromeOptions its ``dash_duo`` browser starts with (tests/test_ui_*.py).

    dash.testing adds its own flags and takes the driver from ``PATH`` (Debian's ``/usr/bin/chromedriver``)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return options
