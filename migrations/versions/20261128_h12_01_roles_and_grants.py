"""Least-privilege roles: grants on the existing tables, and retention functions ingest may run.

* ``db.roles.grant_market_table`` for every table of revisions 0001-0005 (the market hypertables and
  ``system_metrics``): ``alphapulse_ingest`` writes them, ``alphapulse_app`` and ``alphapulse_alerts`` read them
  (missing job roles are created NOLOGIN when the migrating role may, see ``db.roles.ensure_roles``).
* ``CREATE`` on schema ``public`` is taken from ``PUBLIC`` (already PostgreSQL 15's default; older servers granted
  it), so no job role can create objects.
* ``retention_drop_chunks(hypertable regclass, older_than timestamptz) -> integer``: a ``SECURITY DEFINER``
  function owned by the migrating role (the tables' owner; ``drop_chunks`` needs ownership), with ``search_path``
  pinned, refusing a relation that is not a hypertable of schema ``public`` and any cutoff within the last day;
  ``EXECUTE`` for ``alphapulse_ingest`` only. ``drop_chunks`` is called in the extension's own schema, looked up
  here.

``downgrade`` drops the function and revokes the job roles' privileges (the roles stay: they are cluster-wide).

Revision ID: h12_01
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from db.roles import INGEST, grant_market_table, revoke_table

revision = "h12_01"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("funding_rates", "prices", "anomalies", "system_metrics", "funding_rates_1h", "funding_rates_15m")

_IS_OWN_HYPERTABLE = """
  IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables h
                 WHERE h.hypertable_schema = 'public'
                   AND format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass = hypertable) THEN
    RAISE EXCEPTION '% is not a hypertable of schema public', hypertable;
  END IF;"""

FUNCTIONS = {
    "retention_drop_chunks(regclass, timestamptz)": """
CREATE FUNCTION retention_drop_chunks(hypertable regclass, older_than timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE dropped integer;
BEGIN""" + _IS_OWN_HYPERTABLE + """
  IF older_than IS NULL OR older_than > now() - interval '1 day' THEN
    RAISE EXCEPTION 'retention cutoff % is within the last day', older_than;
  END IF;
  SELECT count(*) INTO dropped FROM {ts}.drop_chunks(hypertable, older_than => older_than);
  RETURN dropped;
END $$""",
}


def upgrade() -> None:
    for table in TABLES:
        grant_market_table(op, table)
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    schema = op.get_bind().execute(text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'timescaledb'")).scalar_one()
    for signature, body in FUNCTIONS.items():
        op.execute(text(body.replace("{ts}", schema)))
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{INGEST}"')


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    for table in TABLES:
        revoke_table(op, table)  # the roles themselves are cluster-wide and stay
