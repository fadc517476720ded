"""Helpers of the web tests: free ports, gunicorn processes with their own environment, users and keys."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

from app import users as users_cli
from settings import PROJECT_ROOT

#: A password long enough for ``app.auth.hashing`` (tests only).
PASSWORD = "correct horse battery"
#: A secret long enough for ``settings.auth`` (tests only).
SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(monkeypatch, database_url: str, *args: str, stdin: str = "") -> tuple[int, str]:
    """Run ``python -m app.users *args`` in-process on ``database_url``; ``(exit status, stdout)``."""
    from settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            status = users_cli.main(list(args))
    finally:
        get_settings.cache_clear()
    return status, out.getvalue()


def add_user(monkeypatch, database_url: str, name: str, admin: bool = False) -> None:
    """Add user ``name`` with :data:`PASSWORD` through the CLI."""
    status, out = cli(monkeypatch, database_url, "add", name, *(["--admin"] if admin else []), stdin=PASSWORD + "\n")
    assert status == 0, out


def create_key(monkeypatch, database_url: str, owner: str, tier: str = "free") -> tuple[int, str]:
    """``(id, key)`` of a new key for ``owner`` made through the CLI."""
    status, out = cli(monkeypatch, database_url, "key-create", owner, f"{tier} test key", "--tier", tier)
    assert status == 0, out
    return int(out.split()[1]), out.strip().splitlines()[-1]


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, timeout: float = 60) -> Iterator[str]:
    """gunicorn with ``gunicorn.conf.py`` and ``os.environ`` + ``env`` on a free port (``ALPHAPULSE_PORT``);
    yields its base URL once ``/api/health`` answers (any status); terminated at the end."""
    port = free_port()
    full = {**os.environ, "ALPHAPULSE_PORT": str(port), "ALPHAPULSE_WEB_WORKERS": "1",
            "ALPHAPULSE_ACCESS_LOG": str(log_path.with_suffix(".access.log")), **env}  # fmt: skip
    with open(log_path, "a") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.wsgi:app"],
                                cwd=PROJECT_ROOT, env=full, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(base + "/api/health", timeout=5).read()
                break
            except urllib.error.HTTPError:
                break  # answered (503: only old history stored)
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
