"""Creating and revoking API keys (shared by the Admin page and ``python -m app.users``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection

from app.auth.hashing import new_api_key
from db import accounts

#: Longest label of a key.
MAX_LABEL = 80


def issue_key(conn: Connection, owner: str, label: str, tier: str) -> tuple[str, int]:
    """Create a key of ``tier`` for user ``owner`` (name) labelled ``label``; returns ``(key, id)``. The key is in
    clear only here: show it once. Raises ``ValueError`` for an unknown owner or tier, or an empty/long label."""
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise ValueError(f"a key needs a label of 1 to {MAX_LABEL} characters (what it is for)")
    user = accounts.find_user(conn, owner)
    if user is None:
        raise ValueError(f"no user {owner!r}")
    key, digest, prefix = new_api_key()
    return key, accounts.create_key(conn, user.id, digest, prefix, label, tier)


def revoke(conn: Connection, key_id: int) -> bool:
    """Revoke key ``key_id`` now; False when it does not exist or was revoked already. Requests with it are
    refused (401) from the next request on, on every worker and host (keys are checked in the database)."""
    return accounts.revoke_key(conn, key_id, datetime.now(UTC))
