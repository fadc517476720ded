"""Least-privilege database roles, and the one place where migrations grant a table to them.

Roles (names in ``settings.DB_ROLES``, the same on every server):

=====================  ==========================================================================================
``alphapulse``         owner: owns the schema and the tables, runs migrations (whoever runs them on an external
                       server owns what they create); on the embedded cluster it may create databases, no more
``alphapulse_ingest``  writes market data: SELECT, INSERT, UPDATE, DELETE on market tables; EXECUTE on the retention
                       function (below); nothing else
``alphapulse_app``     the web app: SELECT on market tables; read-write only on app-owned tables (users, API keys,
                       alert rules)
``alphapulse_alerts``  the alerts worker: SELECT on market tables; read-write on its own alert-state tables
=====================  ==========================================================================================

**A migration that creates a table adds one call** (``op`` is alembic's; the table must exist):

* ``grant_market_table(op, "open_interest")`` — market data ingest writes (hypertables; chunks inherit the grant);
* ``grant_app_table(op, "alert_rules", readers=(ALERTS,))`` — a table the app owns (``readers``: roles that may read
  it too, e.g. the alerts worker reads the rules);
* ``grant_alerts_table(op, "alert_state")`` — alert state the alerts worker keeps (the app reads it).

Sequences behind ``serial``/identity columns of the table are granted to its writers too. There are no default
privileges: a table nobody granted is reachable by its owner only, and ``tests/test_roles.py`` fails for any table
of the migrated schema without a grant, naming it. The first grant of a migration run calls :func:`ensure_roles`,
which creates missing job roles (NOLOGIN) when the migrating role may, and otherwise stops with the SQL an
operator runs (README, "Database roles").

**Retention** needs the hypertables' owner (``drop_chunks``). Migration ``h12_01`` creates the ``SECURITY DEFINER``
function ``retention_drop_chunks(hypertable, older_than)``, owned by the owner and executable by
``alphapulse_ingest`` only; it refuses a table that is not a hypertable of the schema, and any cutoff within the
last day. ``ingest.retention`` calls it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text

from settings import DB_ROLES

OWNER, INGEST, APP, ALERTS = (DB_ROLES[job] for job in ("owner", "ingest", "app", "alerts"))
#: The roles processes log in as (the owner is whoever migrates).
JOB_ROLES = (INGEST, APP, ALERTS)
#: Privileges of a role that writes a table.
WRITE = "SELECT, INSERT, UPDATE, DELETE"


def _ident(name: str) -> str:
    if '"' in name or not name:
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def operator_sql(roles: Iterable[str] = JOB_ROLES) -> str:
    """The SQL an operator runs (as a superuser or a role with CREATEROLE) to create the job roles on an external
    server; ``…`` stands for passwords of their choice."""
    return "\n".join(f"CREATE ROLE {_ident(r)} LOGIN PASSWORD '…';" for r in roles)


def ensure_roles(op) -> None:
    """Create the missing job roles (NOLOGIN: an operator gives them a password later) when the migrating role is a
    superuser or has CREATEROLE; raise ``RuntimeError`` with :func:`operator_sql` when it may not."""
    conn = op.get_bind()
    existing = set(conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"),
                                {"r": list(JOB_ROLES)}).scalars())
    missing = [r for r in JOB_ROLES if r not in existing]
    if not missing:
        return
    may = conn.execute(text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")).scalar()
    if not may:
        raise RuntimeError(f"database roles {', '.join(missing)} do not exist and the migrating role may not create "
                           f"them; create them first (README, 'Database roles'):\n{operator_sql(missing)}")
    for role in missing:
        op.execute(f"CREATE ROLE {_ident(role)} NOLOGIN")


def _grant(op, table: str, privileges: str, roles: Iterable[str]) -> None:
    names = ", ".join(_ident(r) for r in roles)
    if not names:
        return
    op.execute(f"GRANT {privileges} ON TABLE {_ident(table)} TO {names}")
    if privileges == WRITE:  # serial / identity columns: their sequences
        op.execute(text(f"""DO $$ DECLARE s regclass; BEGIN
  FOR s IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
           WHERE d.refobjid = '{_ident(table)}'::regclass AND c.relkind = 'S' LOOP
    EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {names.replace("'", "''")}', s);
  END LOOP; END $$"""))


def grant_market_table(op, table: str) -> None:
    """``table`` holds market data: ingest writes it, the app and alerts read it."""
    ensure_roles(op)
    _grant(op, table, WRITE, [INGEST])
    _grant(op, table, "SELECT", [APP, ALERTS])


def grant_app_table(op, table: str, readers: Iterable[str] = ()) -> None:
    """``table`` belongs to the web app (users, API keys, alert rules): the app writes it; ``readers`` (e.g.
    ``(ALERTS,)``) may read it."""
    ensure_roles(op)
    _grant(op, table, WRITE, [APP])
    _grant(op, table, "SELECT", [r for r in readers if r != APP])


def grant_alerts_table(op, table: str, readers: Iterable[str] = (APP,)) -> None:
    """``table`` holds the alerts worker's state: alerts writes it; ``readers`` (default the app) read it."""
    ensure_roles(op)
    _grant(op, table, WRITE, [ALERTS])
    _grant(op, table, "SELECT", [r for r in readers if r != ALERTS])


def revoke_table(op, table: str) -> None:
    """Take every job role's privileges on ``table`` back (downgrades that keep the table)."""
    op.execute(f"REVOKE ALL ON TABLE {_ident(table)} FROM {', '.join(_ident(r) for r in JOB_ROLES)}")
