"""Tables the web app owns (sign-in and API keys), on the same ``MetaData`` as the market hypertables.

Ordinary PostgreSQL tables, not hypertables: a few rows per user and key (``api_key_usage`` one row per key and
UTC day). They are the only tables the app writes (``db.accounts``); the app's database role needs INSERT,
UPDATE and DELETE on them and nothing more (see README, "Running on more than one machine"). Nothing secret is
stored in clear: ``users.password_hash`` is werkzeug's salted scrypt hash, ``api_keys.key_hash`` the SHA-256 of
a 256-bit random key (a key is shown once, when created).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
    text,
)

from db.schema import metadata

#: Roles a user may have: ``viewer`` reads dashboards and the API; ``admin`` also manages keys (Admin page).
ROLES = ("viewer", "admin")
#: API key tiers (limits per tier in settings: ``ALPHAPULSE_TIER_<TIER>_PER_MINUTE`` / ``_PER_DAY``).
TIERS = ("free", "pro")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True, comment="sign-in name (lower case)"),
    Column("password_hash", Text, nullable=False, comment="werkzeug generate_password_hash (scrypt, salted)"),
    Column("role", Text, nullable=False, comment="viewer or admin"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_signin_at", DateTime(timezone=True), comment="UTC time of the last successful sign-in"),
    CheckConstraint(_in("role", ROLES), name="role_known"),
    CheckConstraint("name ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'", name="name_format"),
    comment="People who sign in to the dashboard and API (app.auth)",
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True, comment="hex SHA-256 of the whole key"),
    Column("prefix", Text, nullable=False, comment="first characters of the key, shown to tell keys apart"),
    Column("label", Text, nullable=False, comment="what the key is for, as its creator named it"),
    Column("tier", Text, nullable=False, comment="free or pro (limits from settings)"),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           comment="the user whose role the key carries"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("revoked_at", DateTime(timezone=True), comment="UTC time of revocation; NULL while valid"),
    CheckConstraint(_in("tier", TIERS), name="tier_known"),
    comment="API keys (Authorization: Bearer <key> or X-API-Key); only the hash is stored",
)
Index("ix_api_keys_user_id", api_keys.c.user_id)

api_key_usage = Table(
    "api_key_usage",
    metadata,
    Column("key_id", BigInteger, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True, comment="UTC day"),
    Column("requests", BigInteger, nullable=False, comment="requests answered (not refused with 429) that day"),
    Column("limited", BigInteger, nullable=False, server_default=text("0"),
           comment="requests refused with 429 that day"),
    comment="Per key and UTC day: requests answered and refused",
)

#: Every table of this module (for grants: the app role writes these and only these).
ACCOUNT_TABLES: tuple[Table, ...] = (users, api_keys, api_key_usage)
