"""Database roles and connection URLs of AlphaPulse (no secrets: passwords come from a ``.pgpass`` file)."""

from __future__ import annotations

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


def with_dbname(url: str, dbname: str) -> str:
    """``url`` with its database name replaced by ``dbname``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(dbname)))
