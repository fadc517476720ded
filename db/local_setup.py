"""How the embedded cluster is locked down: its configuration block, ``pg_hba.conf``, roles and passwords.

Used by :mod:`db.local` at every ``start`` (each step is idempotent, so a cluster created before these rules is
brought up to them):

* ``postgresql.conf`` ends with the AlphaPulse block (:func:`config_block`): TimescaleDB preloaded, 127.0.0.1 only,
  ``password_encryption = scram-sha-256``, ``synchronous_commit`` from ``ALPHAPULSE_PG_SYNCHRONOUS_COMMIT`` (default
  ``on``: a commit is acknowledged once it is on disk), the socket only for its owner;
* ``pg_hba.conf`` (:data:`HBA`): every connection, socket or TCP, authenticates with scram-sha-256; no
  replication;
* roles (:func:`provision`): the superuser (``postgres``; cluster administration by ``db.local`` only) and the four
  job roles of ``settings.DB_ROLES`` log in with the passwords of ``Settings.pg_passfile``; the owner may create
  databases (tests make their own) and end other non-superuser sessions (``pg_signal_backend``: ``DROP DATABASE …
  WITH (FORCE)``) but is no superuser; the others have no attribute at all. The database belongs
  to the owner; tables get their privileges from the migrations (``db.roles``).

A cluster initialised before this (trust authentication, the owner ``alphapulse`` as its bootstrap superuser) is
provisioned once over its trusting socket, then gets the scram ``pg_hba.conf``. Its owner stays the bootstrap
superuser: PostgreSQL's bootstrap role owns the system catalogs, so taking away its superuser attribute would let
it grant itself any privilege (PostgreSQL 16 forbids it). Delete ``var/pgdata`` to re-create such a cluster with
a separate superuser.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from settings import DB_ROLES

#: The bootstrap superuser of clusters created by this version (used only by ``db.local`` to administer).
SUPERUSER = "postgres"
#: The bootstrap superuser of clusters created before roles existed (it is also their owner role).
LEGACY_SUPERUSER = DB_ROLES["owner"]
#: First line of the AlphaPulse block in ``postgresql.conf``; everything after it is rewritten at each start.
CONF_MARKER = "# --- AlphaPulse embedded cluster ---"
#: First line of the AlphaPulse ``pg_hba.conf``.
HBA_MARKER = "# AlphaPulse embedded cluster: a password (scram-sha-256) for every connection; no replication."
HBA = f"""{HBA_MARKER}
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""
#: Attributes of each job role: only the owner may create databases (tests make their own); none may do more.
ROLE_ATTRIBUTES = {job: ("CREATEDB" if job == "owner" else "NOCREATEDB")
                   + " NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS" for job in DB_ROLES}


def config_block(synchronous_commit: str) -> str:
    """The AlphaPulse block of ``postgresql.conf`` (starting with :data:`CONF_MARKER`)."""
    return (
        f"\n{CONF_MARKER}\n"
        "shared_preload_libraries = 'timescaledb'\n"
        "timescaledb.telemetry_level = off\n"
        "listen_addresses = '127.0.0.1'\n"
        "timezone = 'UTC'\n"
        "max_connections = 200\n"
        "shared_buffers = 256MB\n"
        "work_mem = 16MB\n"
        "max_wal_size = 2GB\n"
        f"synchronous_commit = {synchronous_commit}\n"
        "password_encryption = 'scram-sha-256'\n"
        "unix_socket_permissions = 0700\n"
        "timescaledb.max_background_workers = 4\n"
    )


def write_config(conf: Path, synchronous_commit: str) -> bool:
    """Make ``conf`` (``postgresql.conf``) end with the current :func:`config_block`; True when it changed."""
    text = conf.read_text()
    head = text.split(f"\n{CONF_MARKER}\n", 1)[0]
    new = head + config_block(synchronous_commit)
    if new == text:
        return False
    conf.write_text(new)
    return True


def hba_is_locked(hba: Path) -> bool:
    """True when ``pg_hba.conf`` is the AlphaPulse scram-only one (:data:`HBA`)."""
    return hba.exists() and hba.read_text() == HBA


def write_hba(hba: Path) -> None:
    """Replace ``pg_hba.conf`` by :data:`HBA` (the server reads it on start or reload)."""
    hba.write_text(HBA)


def _set_password(conn: psycopg.Connection, role: str, password: str) -> None:
    """``ALTER ROLE role PASSWORD`` with a SCRAM verifier computed here (libpq's ``PQencryptPasswordConn``): the
    clear password never reaches the server, its logs or ``pg_stat_activity``."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def provision(conn: psycopg.Connection, passwords: dict[str, str], dbname: str, superuser: str) -> None:
    """Create or update the job roles (:data:`ROLE_ATTRIBUTES`, LOGIN, passwords of ``passwords``), the superuser's
    password, and the database ``dbname`` owned by the owner role. ``conn``: autocommit, as ``superuser``."""
    for job, role in DB_ROLES.items():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        if role != superuser:  # a legacy cluster's owner is its bootstrap superuser: see the module docstring
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN " + ROLE_ATTRIBUTES[job]).format(sql.Identifier(role)))
        _set_password(conn, role, passwords[role])
    if superuser not in DB_ROLES.values():
        _set_password(conn, superuser, passwords[superuser])
    owner = sql.Identifier(DB_ROLES["owner"])
    if DB_ROLES["owner"] != superuser:  # tests drop their databases WITH (FORCE) while job roles are connected
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(owner))
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), owner))
    else:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), owner))
