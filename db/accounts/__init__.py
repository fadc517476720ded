"""Reads and writes of the app-owned tables (:mod:`db.accounts.schema`): users, API keys, per-day key usage.

The only writes the web app makes (market data stays read-only for it). Every function takes an open
SQLAlchemy ``Connection``; the caller owns the transaction (``engine.begin()`` for writes). Times are aware
UTC. Secrets never pass through here in clear: callers hand in hashes (``app.auth``).
"""

from db.accounts.keys import ApiKey, add_usage, create_key, find_key, list_keys, revoke_key, usage_by_day
from db.accounts.schema import ACCOUNT_TABLES, ROLES, TIERS, api_key_usage, api_keys, users
from db.accounts.users import (
    User,
    UserExistsError,
    add_user,
    count_users,
    delete_user,
    find_user,
    get_user,
    list_users,
    record_signin,
    set_password,
)

__all__ = [
    "ACCOUNT_TABLES", "ROLES", "TIERS", "ApiKey", "User", "UserExistsError", "add_usage", "add_user", "api_key_usage",
    "api_keys", "count_users", "create_key", "delete_user", "find_key", "find_user", "get_user", "list_keys",
    "list_users", "record_signin", "revoke_key", "set_password", "usage_by_day", "users",
]  # fmt: skip
