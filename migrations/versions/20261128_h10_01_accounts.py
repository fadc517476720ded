"""Tables the web app owns: ``users`` (sign-in, role), ``api_keys`` (hashed keys with a tier), ``api_key_usage``.

Ordinary tables (not hypertables), described in ``db/accounts/schema.py``: passwords are stored as werkzeug's
salted scrypt hashes, keys as the SHA-256 of a 256-bit random key; usage holds requests answered and refused per
key and UTC day. Deleting a user deletes their keys and usage (``ON DELETE CASCADE``). The app's role reads and
writes them (``db.roles.grant_app_table``). ``downgrade`` drops them.

Revision ID: h10_01
Revises: h12_01
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.roles import grant_app_table

revision = "h10_01"
down_revision = "h12_01"
branch_labels = None
depends_on = None


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False, comment="sign-in name (lower case)"),
        sa.Column("password_hash", sa.Text(), nullable=False,
                  comment="werkzeug generate_password_hash (scrypt, salted)"),
        sa.Column("role", sa.Text(), nullable=False, comment="viewer or admin"),
        _created_at(),
        sa.Column("last_signin_at", sa.DateTime(timezone=True), nullable=True,
                  comment="UTC time of the last successful sign-in"),
        sa.CheckConstraint("name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'", name=op.f("ck_users_name_format")),
        sa.CheckConstraint("role IN ('viewer', 'admin')", name=op.f("ck_users_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
        comment="People who sign in to the dashboard and API (app.auth)",
    )  # fmt: skip
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False, comment="hex SHA-256 of the whole key"),
        sa.Column("prefix", sa.Text(), nullable=False, comment="first characters of the key, shown to tell keys apart"),
        sa.Column("label", sa.Text(), nullable=False, comment="what the key is for, as its creator named it"),
        sa.Column("tier", sa.Text(), nullable=False, comment="free or pro (limits from settings)"),
        sa.Column("user_id", sa.BigInteger(), nullable=False, comment="the user whose role the key carries"),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True,
                  comment="UTC time of revocation; NULL while valid"),
        sa.CheckConstraint("tier IN ('free', 'pro')", name=op.f("ck_api_keys_tier_known")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        comment="API keys (Authorization: Bearer <key> or X-API-Key); only the hash is stored",
    )  # fmt: skip
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)
    op.create_table(
        "api_key_usage",
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day"),
        sa.Column("requests", sa.BigInteger(), nullable=False,
                  comment="requests answered (not refused with 429) that day"),
        sa.Column("limited", sa.BigInteger(), server_default=sa.text("0"), nullable=False,
                  comment="requests refused with 429 that day"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_api_key_usage_key_id_api_keys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id", "day", name=op.f("pk_api_key_usage")),
        comment="Per key and UTC day: requests answered and refused",
    )  # fmt: skip
    for table in ("users", "api_keys", "api_key_usage"):
        grant_app_table(op, table)


def downgrade() -> None:
    op.drop_table("api_key_usage")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
