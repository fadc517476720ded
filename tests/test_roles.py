"""The embedded database locked down (issue 12, items 9 and 12): passwords for every connection, secrets readable by
their owner only, a socket others cannot reach, least-privilege roles, and commits acknowledged once on disk.

Runs against the session's cluster (``server_url``) and test database (``db_url``, migrated to head, so the grants
of ``db.roles`` apply there as on the real database).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from db.engine import make_engine
from db.local import LocalCluster
from db.local_setup import SUPERUSER
from db.roles import JOB_ROLES
from db.secrets import read_passfile
from settings import DB_ROLES, get_settings
from tests.conftest import role_url

pytestmark = pytest.mark.skipif(not get_settings().uses_local_cluster, reason="checks the embedded cluster")

MARKET = ("funding_rates", "prices", "anomalies", "system_metrics", "funding_rates_1h", "funding_rates_15m")
ROW = {
    "prices": "INSERT INTO prices (time, exchange, symbol, timeframe, open, high, low, close) "
    "VALUES ('2025-01-01', 'x', 'y', '1m', 1, 1, 1, 1)"
}


@pytest.fixture(scope="module")
def cluster(server_url) -> LocalCluster:
    return LocalCluster.from_settings(get_settings())


def _connect(cluster: LocalCluster, user: str, host: str, dbname: str | None = None, **kw) -> psycopg.Connection:
    return psycopg.connect(
        host=host, port=cluster.port, user=user, dbname=dbname or cluster.dbname, connect_timeout=5, **kw
    )


@pytest.mark.parametrize("user", [SUPERUSER, *DB_ROLES.values()])
def test_connecting_without_the_secret_fails(cluster, user, tmp_path):
    empty = tmp_path / "pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    for host in ("127.0.0.1", str(cluster.socket_dir)):
        with pytest.raises(psycopg.OperationalError, match="password"):
            _connect(cluster, user, host, passfile=str(empty), password="")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _connect(cluster, user, host, password="not-the-secret")
    if user != SUPERUSER or SUPERUSER in read_passfile(cluster.passfile):
        with _connect(cluster, user, "127.0.0.1", dbname="postgres", passfile=str(cluster.passfile)) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == user


def test_secrets_and_socket_are_private(cluster):
    for path, mode in ((cluster.passfile, 0o600), (cluster.passfile.parent, 0o700), (cluster.socket_dir, 0o700)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    hba = (cluster.data_dir / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules)
    assert not any("replication" in rule for rule in rules)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("psql"), reason="needs root to act as another user")
def test_another_local_user_gets_nothing(cluster):
    """The fault run connected as ``nobody`` (trust) and ran ``COPY … FROM PROGRAM 'id'`` as ``postgres``."""
    nobody = pwd.getpwnam("nobody")

    def as_nobody(host: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "psql",
                "-w",
                "-h",
                host,
                "-p",
                str(cluster.port),
                "-U",
                DB_ROLES["owner"],
                "-d",
                cluster.dbname,
                "-c",
                "COPY (SELECT 1) TO PROGRAM 'id'",
            ],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            cwd="/",
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=30,
        )

    tcp = as_nobody("127.0.0.1")
    assert tcp.returncode != 0 and "password" in tcp.stderr
    socket = as_nobody(str(cluster.socket_dir))
    assert socket.returncode != 0 and ("Permission denied" in socket.stderr or "password" in socket.stderr)


def test_commits_are_acknowledged_once_on_disk(engine):
    with engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"


@pytest.mark.parametrize("job", ["app", "alerts"])
def test_the_app_and_alerts_roles_read_market_data_and_cannot_write_it(db_url, job):
    eng = make_engine(role_url(db_url, job), pool_size=1)
    try:
        for table in MARKET:
            with eng.connect() as conn:
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            # the alerts worker counts failed deliveries in system_metrics (INSERT only, migration h9_02)
            insert = () if (job, table) == ("alerts", "system_metrics") else (
                ROW.get(table, f"INSERT INTO {table} SELECT * FROM {table} LIMIT 1"),)
            for statement in (
                *insert,
                f"UPDATE {table} SET time = time",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                with pytest.raises(DBAPIError, match="permission denied"), eng.begin() as conn:
                    conn.execute(text(statement))
        for statement in (
            "CREATE TABLE public.mine (x int)",
            "COPY (SELECT 1) TO PROGRAM 'id'",
            "SELECT retention_drop_chunks('prices', now() - interval '30 days')",
        ):
            with pytest.raises(DBAPIError, match="permission denied|must be superuser"), eng.begin() as conn:
                conn.execute(text(statement))
    finally:
        eng.dispose()


def test_ingest_writes_market_data_and_drops_chunks_only_through_the_guarded_function(clean_db, ingest_engine):
    old = datetime.now(UTC) - timedelta(days=400)
    with ingest_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO prices (time, exchange, symbol, timeframe, open, high, low, close) "
                "VALUES (:t, 'x', 'y', '1m', 1, 1, 1, 1)"
            ),
            {"t": old},
        )  # a new chunk
    for statement in (
        "SELECT drop_chunks('prices', older_than => now())",
        "DROP TABLE prices",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "CREATE TABLE public.mine (x int)",
        "SELECT retention_drop_chunks('prices', now())",
        "SELECT retention_drop_chunks('pg_class', now() - interval '30 days')",
    ):
        with pytest.raises(DBAPIError), ingest_engine.begin() as conn:
            conn.execute(text(statement))
    with ingest_engine.begin() as conn:
        dropped = conn.execute(text("SELECT retention_drop_chunks('prices', now() - interval '30 days')")).scalar()
    assert dropped == 1
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM prices")).scalar() == 0


def test_every_table_is_granted_to_a_job_role(engine):
    """A migration that creates a table must call ``db.roles.grant_*_table`` (no default privileges): a table only
    its owner can reach is a forgotten grant, or a leak if it is later granted wholesale."""
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'"
            )
        ).scalars()
        ungranted = [
            t
            for t in tables
            if not conn.execute(
                text(
                    "SELECT bool_or(has_table_privilege(r, format('public.%I', CAST(:t AS text)), 'SELECT')) "
                    "FROM unnest(CAST(:roles AS text[])) r"
                ),
                {"t": t, "roles": list(JOB_ROLES)},
            ).scalar()
        ]
    assert not ungranted, f"tables without a db.roles grant in their migration: {ungranted}"


def test_the_owner_is_not_a_superuser_of_a_new_cluster(cluster, engine):
    with engine.connect() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    new_cluster = SUPERUSER in read_passfile(cluster.passfile)
    assert superuser is (not new_cluster)  # a cluster created before roles keeps its bootstrap owner (README)
    assert make_url(str(engine.url)).query.get("passfile") and make_url(str(engine.url)).password is None
