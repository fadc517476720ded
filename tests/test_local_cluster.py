"""``python -m db.local``: start/stop/status, idempotency, stale pid file, port-in-use error.

Each test runs its own throw-away cluster under ``var/test-clusters`` on a free port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from db.local import LocalCluster
from db.local_paths import usable_var_dir
from db.local_setup import HBA, LEGACY_SUPERUSER
from settings import PROJECT_ROOT, load_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster_env():
    var_dir = PROJECT_ROOT / "var" / "test-clusters" / uuid.uuid4().hex[:8]
    env = {**os.environ, "ALPHAPULSE_VAR_DIR": str(var_dir), "ALPHAPULSE_PG_PORT": str(_free_port())}
    env.pop("DATABASE_URL", None)
    yield env
    _cli(env, "stop")
    shutil.rmtree(usable_var_dir(var_dir), ignore_errors=True)


def _cli(env, command):
    return subprocess.run(
        [sys.executable, "-m", "db.local", command],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_start_is_idempotent_and_status_follows(cluster_env):
    assert _cli(cluster_env, "status").stdout.startswith("absent")
    first = _cli(cluster_env, "start")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert f"alphapulse@127.0.0.1:{cluster_env['ALPHAPULSE_PG_PORT']}/alphapulse?passfile=" in url
    second = _cli(cluster_env, "start")
    assert second.returncode == 0 and second.stdout.strip() == url
    status = _cli(cluster_env, "status")
    assert status.returncode == 0 and status.stdout.startswith("running")
    assert _cli(cluster_env, "url").stdout.strip() == url

    from sqlalchemy import text

    from db.engine import make_engine

    eng = make_engine(url, pool_size=1)
    with eng.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))  # as the owner: a trusted extension
        version = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).scalar()
        telemetry = conn.execute(text("SHOW timescaledb.telemetry_level")).scalar()
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    eng.dispose()
    assert version and telemetry == "off" and superuser is False

    assert _cli(cluster_env, "stop").stdout.strip() == "stopped"
    assert _cli(cluster_env, "stop").stdout.strip() == "not running"
    stopped = _cli(cluster_env, "status")
    assert stopped.returncode == 3 and stopped.stdout.startswith("stopped")


def test_stale_pid_file_after_crash_is_handled(cluster_env):
    assert _cli(cluster_env, "start").returncode == 0
    data = usable_var_dir(Path(cluster_env["ALPHAPULSE_VAR_DIR"])) / "pgdata"
    pid = int((data / "postmaster.pid").read_text().split()[0])
    os.kill(pid, 9)  # crash: the postmaster dies and leaves its pid file behind
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert (data / "postmaster.pid").exists()
    restarted = _cli(cluster_env, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert _cli(cluster_env, "status").stdout.startswith("running")


def test_port_in_use_is_a_clear_error(cluster_env):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(cluster_env["ALPHAPULSE_PG_PORT"])))
        blocker.listen()
        result = _cli(cluster_env, "start")
    assert result.returncode == 1
    assert f"port {cluster_env['ALPHAPULSE_PG_PORT']}" in result.stderr and "ALPHAPULSE_PG_PORT" in result.stderr


def test_a_cluster_created_before_roles_is_locked_down_on_start(cluster_env):
    """A cluster initialised as before issue 12 (trust everywhere, ``alphapulse`` its bootstrap superuser) gets the
    roles, passwords and the scram ``pg_hba.conf`` on its next start, and keeps its data."""
    cluster = LocalCluster.from_settings(load_settings(cluster_env))
    cluster._prepare_dirs()
    cluster._pg("initdb", "-D", str(cluster.data_dir), "-U", LEGACY_SUPERUSER, "--auth=trust", "-E", "UTF8")
    with (cluster.data_dir / "postgresql.conf").open("a") as fh:
        fh.write("\n# --- AlphaPulse embedded cluster ---\nsynchronous_commit = off\n")
    started = _cli(cluster_env, "start")
    assert started.returncode == 0, started.stderr
    assert (cluster.data_dir / "pg_hba.conf").read_text() == HBA
    assert "synchronous_commit = on" in (cluster.data_dir / "postgresql.conf").read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host="127.0.0.1",
            port=cluster.port,
            user=LEGACY_SUPERUSER,
            dbname="postgres",
            password="",
            connect_timeout=5,
        )
    with psycopg.connect(
        host="127.0.0.1",
        port=cluster.port,
        user="alphapulse_app",
        dbname="alphapulse",
        passfile=str(cluster.passfile),
        connect_timeout=5,
    ) as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
    assert _cli(cluster_env, "start").returncode == 0  # and again, now as a locked cluster
