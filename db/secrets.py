"""The embedded cluster's generated passwords, kept in one ``.pgpass``-format file readable by its owner only.

``<ALPHAPULSE_VAR_DIR>/secrets/pgpass`` (``Settings.pg_passfile``) holds one line per database role,
``*:*:*:<role>:<password>``: libpq (psycopg) reads the password of the role it connects as from it when a URL says
``?passfile=<path>`` (``settings.pg_url``), so no URL, environment variable, log line or response ever carries a
secret. The directory is mode 0700 and the file 0600 (libpq ignores a group- or world-readable passfile); both
belong to the user who runs the project. Passwords are 256-bit random (``secrets.token_urlsafe``), generated once
per role and kept: deleting the file locks the project out of its embedded cluster (``db.local`` says so).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Bytes of randomness per generated password (256 bits).
PASSWORD_BYTES = 32


def read_passfile(path: Path) -> dict[str, str]:
    """``{role: password}`` of the AlphaPulse lines (``*:*:*:role:password``) of ``path``; ``{}`` when absent."""
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 5 and parts[:3] == ["*", "*", "*"]:
            found[parts[3]] = parts[4]
    return found


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def ensure_passwords(path: Path, roles: list[str]) -> dict[str, str]:
    """``{role: password}`` for ``roles``, generating and storing any that ``path`` lacks (file 0600, directory
    0700; existing passwords are kept). Returns every stored password."""
    stored = read_passfile(path)
    missing = [r for r in roles if r not in stored]
    if missing or not path.exists():
        stored.update({r: secrets.token_urlsafe(PASSWORD_BYTES) for r in missing})
        _write_private(path, "".join(f"*:*:*:{role}:{pw}\n" for role, pw in stored.items()))
    path.chmod(0o600)
    path.parent.chmod(0o700)
    return stored
