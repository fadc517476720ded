"""The embedded local TimescaleDB cluster that AlphaPulse runs when ``DATABASE_URL`` is unset.

Usage::

    python -m db.local start|stop|status|url

``start`` initdb's a cluster under ``<ALPHAPULSE_VAR_DIR>/pgdata`` (first time only) with
``shared_preload_libraries=timescaledb`` and telemetry off, listening on a unix socket in
``<var>/run`` (mode 0700) and on 127.0.0.1:``ALPHAPULSE_PG_PORT``, locks it down (:mod:`db.local_setup`:
scram-sha-256 for every connection, generated passwords in ``Settings.pg_passfile``, the least-privilege roles of
``settings.DB_ROLES``), creates the database owned by the owner role, and prints the owner's URL (``url --role
app`` prints another role's; URLs name the passfile, never a password).
Every command is idempotent; a stale ``postmaster.pid`` left by a crash is removed.

PostgreSQL refuses to run as root: under root the server runs as the ``postgres`` (or
``nobody``) system user; when that user cannot reach the var directory (a checkout under
``/root``), the cluster lives in ``/var/tmp/alphapulse/<hash>`` instead (:func:`usable_var_dir`).
Errors (port in use, TimescaleDB not installed, …) raise :class:`LocalClusterError`.
"""

from __future__ import annotations

import argparse
import os
import pwd
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from db.local_paths import LocalClusterError, pg_bindir, server_uid, timescaledb_installed, traversable, usable_var_dir
from db.local_setup import LEGACY_SUPERUSER, SUPERUSER, hba_is_locked, provision, write_config, write_hba
from db.secrets import ensure_passwords, read_passfile
from settings import DB_ROLES, Settings, get_settings, pg_url


@dataclass(frozen=True)
class LocalCluster:
    """Paths and port of one embedded cluster; build with :meth:`from_settings`."""

    var_dir: Path
    port: int
    dbname: str
    passfile: Path
    synchronous_commit: str = "on"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LocalCluster:
        s = settings or get_settings()
        return cls(var_dir=usable_var_dir(s.var_dir), port=s.local_pg_port, dbname=s.local_pg_db,
                   passfile=s.pg_passfile, synchronous_commit=s.pg_synchronous_commit)

    @property
    def data_dir(self) -> Path:
        return self.var_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.var_dir / "log" / "postgresql.log"

    @property
    def url(self) -> str:
        """The owner role's URL (password from :attr:`passfile`)."""
        return self.url_for("owner")

    def url_for(self, job: str) -> str:
        """The URL of the role of ``job`` (a key of ``settings.DB_ROLES``)."""
        return pg_url(DB_ROLES[job], self.port, self.dbname, self.passfile)

    # -- running commands as the right user -------------------------------------------------
    def _run_as(self) -> dict:
        uid = server_uid()
        if uid is None:
            return {}
        return {"user": uid, "group": pwd.getpwuid(uid).pw_gid, "extra_groups": []}

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
        cmd = [str(pg_bindir() / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/", **self._run_as())
        if check and proc.returncode != 0:
            raise LocalClusterError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _prepare_dirs(self) -> None:
        owner = self._run_as()
        for d in (self.var_dir, self.socket_dir, self.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
            if owner:
                os.chown(d, owner["user"], owner["group"])
        for private in (self.socket_dir, self.log_file.parent):  # other local users may not reach the socket
            private.chmod(0o700)
        if owner and not traversable(self.var_dir, owner["user"]):
            raise LocalClusterError(
                f"{self.var_dir} is not reachable by the unprivileged PostgreSQL user; "
                f"set ALPHAPULSE_VAR_DIR to a directory it can reach (e.g. /var/tmp/alphapulse)"
            )

    # -- lifecycle ---------------------------------------------------------------------------
    def initdb(self) -> bool:
        """Create the cluster if ``pgdata`` does not hold one yet (bootstrap superuser :data:`SUPERUSER` with a
        generated password, scram-sha-256 everywhere from the first start); returns True when it did."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self._prepare_dirs()
        passwords = ensure_passwords(self.passfile, [SUPERUSER, *DB_ROLES.values()])
        pwfile = self.var_dir / f".initdb-{os.getpid()}"  # the server user must read it; gone right after
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(passwords[SUPERUSER] + "\n")
            owner = self._run_as()
            if owner:
                os.chown(pwfile, owner["user"], owner["group"])
            self._pg("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", "--no-instructions")
        finally:
            pwfile.unlink(missing_ok=True)
        write_hba(self.data_dir / "pg_hba.conf")
        return True

    def is_running(self) -> bool:
        """True when ``pg_ctl status`` finds this cluster's postmaster alive."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        return self._pg("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def _port_in_use(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

    def start(self) -> str:
        """Start (initdb first if needed) and create the database; returns the URL. No-op when running."""
        bindir = pg_bindir()
        if not timescaledb_installed(bindir):
            raise LocalClusterError(
                f"the timescaledb extension is not installed for {bindir}: "
                "run scripts/install_timescaledb.sh (make timescaledb)"
            )
        running = self.is_running()
        if not running:
            self.initdb()
        reload = write_config(self.data_dir / "postgresql.conf", self.synchronous_commit)
        if not running:
            pid_file = self.data_dir / "postmaster.pid"
            if pid_file.exists():
                pid_file.unlink()  # stale: pg_ctl status said no server runs with it
            if self._port_in_use():
                raise LocalClusterError(
                    f"port {self.port} on 127.0.0.1 is in use by another program; set ALPHAPULSE_PG_PORT to a free port"
                )
            self._prepare_dirs()
            opts = f"-p {self.port} -k {self.socket_dir}"
            self._pg(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", opts
            )
        self._prepare_dirs()
        self._lock_down(reload)
        return self.url

    def _admin_connection(self, user: str) -> psycopg.Connection:
        """An autocommit connection to ``postgres`` as ``user`` over the socket (retried while the server starts).
        Raises :class:`LocalClusterError` when the passfile does not let ``user`` in."""
        error: Exception | None = None
        for _ in range(50):
            try:
                return psycopg.connect(host=str(self.socket_dir), port=self.port, user=user, dbname="postgres",
                                       passfile=str(self.passfile), autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                error = exc
                if "password" in str(exc) or "authentication" in str(exc):
                    break
                time.sleep(0.1)
        raise LocalClusterError(
            f"cannot log in to the embedded cluster as {user} ({str(error).strip().splitlines()[-1]}): its passwords "
            f"are in {self.passfile}; restore that file, or stop the cluster and delete {self.data_dir} to create a "
            "new one"
        )

    def _lock_down(self, reload: bool) -> None:
        """Roles, passwords and database (:func:`db.local_setup.provision`); a cluster still trusting local
        connections (created before roles) is provisioned over its socket first, then switched to scram."""
        legacy = not hba_is_locked(self.data_dir / "pg_hba.conf")
        superuser = SUPERUSER if SUPERUSER in read_passfile(self.passfile) and not legacy else LEGACY_SUPERUSER
        roles = [*DB_ROLES.values(), *([SUPERUSER] if superuser == SUPERUSER else [])]
        passwords = ensure_passwords(self.passfile, roles)
        with self._admin_connection(superuser) as conn:
            provision(conn, passwords, self.dbname, superuser)
            if legacy:
                write_hba(self.data_dir / "pg_hba.conf")
            if legacy or reload:
                conn.execute("SELECT pg_reload_conf()")

    def stop(self) -> bool:
        """Stop the server (fast shutdown); returns False when it was not running."""
        if not self.is_running():
            return False
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        return True

    def status(self) -> str:
        """``running``, ``stopped`` or ``absent`` (no cluster initialised)."""
        if not (self.data_dir / "PG_VERSION").exists():
            return "absent"
        return "running" if self.is_running() else "stopped"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exit status 0 on success, 1 with a one-line error on stderr."""
    parser = argparse.ArgumentParser(prog="python -m db.local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--role", choices=list(DB_ROLES), default="owner", help="url: the role of this job")
    args = parser.parse_args(argv)
    cluster = LocalCluster.from_settings()
    try:
        if args.command == "start":
            print(cluster.start())
        elif args.command == "stop":
            print("stopped" if cluster.stop() else "not running")
        elif args.command == "status":
            state = cluster.status()
            print(f"{state} ({cluster.data_dir}, port {cluster.port})")
            return 0 if state == "running" else 3
        else:
            print(cluster.url_for(args.role))
    except LocalClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
