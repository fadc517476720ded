"""Where the embedded cluster's pieces are: PostgreSQL's server binaries, the TimescaleDB extension, and a data
directory the server's user can reach (PostgreSQL refuses to run as root, so under root the server runs as
``postgres`` or ``nobody``)."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path


class LocalClusterError(RuntimeError):
    """The local cluster cannot be started or queried; the message says why and what to do."""


def pg_bindir() -> Path:
    """Directory of PostgreSQL's server binaries (``initdb``, ``pg_ctl``), from ``pg_config``."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "pg_ctl").exists():
            return Path(out)
    raise LocalClusterError(
        "PostgreSQL server binaries not found: install postgresql (e.g. apt-get install postgresql-15)"
    )


def timescaledb_installed(bindir: Path) -> bool:
    """True when the extension's control file is installed for the PostgreSQL in ``bindir``."""
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        pg_config = Path(shutil.which("pg_config") or "pg_config")
    share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True).stdout.strip()
    return Path(share, "extension", "timescaledb.control").exists()


def server_uid() -> int | None:
    """uid the server runs as when we are root (``postgres``, else ``nobody``); None when not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
    raise LocalClusterError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def traversable(path: Path, uid: int) -> bool:
    """True when every existing ancestor of ``path`` lets ``uid`` (not root, not in their group) pass."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            return False
    return True


def usable_var_dir(requested: Path) -> Path:
    """``requested`` unless we are root and the unprivileged server user cannot reach it (a checkout
    under ``/root`` for example); then ``/var/tmp/alphapulse/<hash of requested>``, stable per checkout."""
    uid = server_uid()
    if uid is None or traversable(requested, uid):
        return requested
    digest = hashlib.sha1(str(requested).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp/alphapulse") / digest
    fallback.parent.mkdir(parents=True, exist_ok=True)
    fallback.parent.chmod(0o755)
    return fallback
