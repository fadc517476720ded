"""Database roles, connection URLs (no secrets: passwords come from a ``.pgpass`` file) and the var dir's paths of
AlphaPulse's settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

#: The database roles, by job (names fixed across deployments; ``db.roles`` grants their privileges):
#: ``owner`` owns the schema and runs migrations; ``ingest`` writes market data; ``app`` reads it (and writes
#: app-owned tables only); ``alerts`` reads it and writes its own alert state.
DB_ROLES: dict[str, str] = {
    "owner": "alphapulse",
    "ingest": "alphapulse_ingest",
    "app": "alphapulse_app",
    "alerts": "alphapulse_alerts",
}

def pg_url(user: str, port: int, dbname: str, passfile: Path, host: str = "127.0.0.1") -> str:
    """A psycopg URL of ``user`` on ``host:port``/``dbname`` whose password libpq reads from ``passfile`` (a
    ``.pgpass``-format file): no secret in the URL, so it may be logged and printed."""
    return f"postgresql+psycopg://{user}@{host}:{port}/{dbname}?passfile={quote(str(passfile))}"


def with_user(url: str, user: str) -> str:
    """``url`` connecting as ``user`` (same server, database and query; any password in ``url`` dropped)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}@{host}"))


class Locations:
    """Where each job connects and what lives under the var dir, derived from the fields of
    :class:`settings.Settings` (its base class; no state of its own)."""

    @property
    def pg_passfile(self) -> Path:
        """The embedded cluster's secrets: a ``.pgpass``-format file under the var dir, readable by its owner only
        (written by ``db.local``; libpq refuses a group- or world-readable one)."""
        return self.var_dir / "secrets" / "pgpass"

    def local_url(self, role: str = "owner") -> str:
        """URL of the embedded cluster (127.0.0.1) as the role of job ``role`` (a key of :data:`DB_ROLES`)."""
        return pg_url(DB_ROLES[role], self.local_pg_port, self.local_pg_db, self.pg_passfile)

    @property
    def local_database_url(self) -> str:
        """URL of the embedded local cluster as the owner role (password from :attr:`pg_passfile`)."""
        return self.local_url("owner")

    def database_url_for(self, role: str) -> str:
        """URL a process of job ``role`` (``owner``, ``ingest``, ``app``, ``alerts``) connects with: its own variable
        (``DATABASE_INGEST_URL`` …), else ``DATABASE_URL``, else the embedded cluster as that role.
        Raises ``KeyError`` for an unknown job."""
        own = {"owner": "", "ingest": self.database_ingest_url, "app": self.database_app_url,
               "alerts": self.database_alerts_url}[role]
        return own or self.database_url or self.local_url(role)

    @property
    def effective_database_url(self) -> str:
        """The owner's URL: ``DATABASE_URL`` when set, else the embedded local cluster's (migrations, tests)."""
        return self.database_url_for("owner")

    @property
    def effective_read_url(self) -> str:
        """Where the app reads market data: ``DATABASE_READ_URL`` (a streaming replica) when set, else the app role's
        :meth:`database_url_for` ``("app")``."""
        return self.database_read_url or self.database_url_for("app")

    @property
    def local_redis_socket(self) -> Path:
        """Unix socket of the embedded redis-server (``db.redislocal``)."""
        return self.var_dir / "redis" / "redis.sock"

    @property
    def effective_redis_url(self) -> str:
        """``REDIS_URL`` when set, else the embedded redis-server's unix socket URL."""
        return self.redis_url or f"unix://{self.local_redis_socket}"

    @property
    def access_log_path(self) -> str:
        """Where gunicorn writes its access log (``-``: standard output)."""
        return self.access_log or str(self.var_dir / "log" / "access.log")

    @property
    def effective_dashboard_url(self) -> str:
        """``ALPHAPULSE_DASHBOARD_URL`` without a trailing slash, else ``http://host:port`` of the dashboard."""
        return (self.dashboard_base_url or f"http://{self.dashboard_host}:{self.dashboard_port}").rstrip("/")

    @property
    def uses_local_cluster(self) -> bool:
        """True when no ``DATABASE_URL`` is set and the embedded cluster is the database."""
        return not self.database_url

    def with_database(self, url: str) -> Locations:
        """These settings aimed at the database of ``url`` (an owner URL; tests and benchmarks): ``url`` becomes
        ``DATABASE_URL``; when it reads its password from a passfile (the embedded cluster, where one file holds every
        role's secret) each other job connects to the same database as its own role, else every job uses ``url``."""
        roles = {f"database_{job}_url": with_user(url, DB_ROLES[job]) if "passfile=" in url else ""
                 for job in ("ingest", "app", "alerts")}
        return replace(self, database_url=url, **roles)
