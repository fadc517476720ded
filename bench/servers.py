"""What the benchmarks start: a migrated scratch database on the configured server (the embedded cluster unless
``DATABASE_URL`` points elsewhere) and gunicorn with the project's configuration on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, make_url, text

from db.engine import make_engine
from db.local import LocalCluster
from settings import PROJECT_ROOT, get_settings


@contextmanager
def _admin(url: str) -> Iterator[Connection]:
    """An autocommit connection to the ``postgres`` database of ``url``'s server (CREATE/DROP DATABASE)."""
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(False), pool_size=1)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    finally:
        admin.dispose()


def migrated_database(name: str, reload: bool = False) -> tuple[str, bool]:
    """``(URL, created)`` of database ``name`` on the configured server, created when missing (dropped and created
    again with ``reload``) and upgraded to the newest migration. Raises SQLAlchemy/alembic errors."""
    settings = get_settings()
    server = LocalCluster.from_settings(settings).start() if settings.uses_local_cluster else settings.database_url
    with _admin(server) as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if exists and reload:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or reload:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["skip_logging_config"] = True
    command.upgrade(cfg, "head")
    return url, not exists or reload


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (a SQLAlchemy URL) if it exists, its sessions ended. Raises SQLAlchemy errors."""
    with _admin(url) as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, log: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """gunicorn with the project's config on a free port of 127.0.0.1, reading database ``url`` (environment plus
    ``extra_env``, stderr to ``log``); returns (process, base URL) once ``/api/symbols`` answers. Raises
    ``RuntimeError`` when it does not answer within 30 s (the process is stopped)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "ALPHAPULSE_PORT": str(port), "ALPHAPULSE_LOG_LEVEL": "WARNING",
           **(extra_env or {})}  # fmt: skip
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as log_file:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:app"],
                                cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/api/symbols", timeout=2).read()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer within 30 s")
