"""API keys and their usage per UTC day (``api_keys``, ``api_key_usage``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.accounts.schema import TIERS, api_key_usage, api_keys, users


@dataclass(frozen=True)
class ApiKey:
    """A key as the app checks it: ``id``, ``tier``, the owner's ``user_id``/``user_name``/``role``, and
    ``revoked_at`` (None while valid)."""

    id: int
    prefix: str
    label: str
    tier: str
    user_id: int
    user_name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def valid(self) -> bool:
        return self.revoked_at is None


_KEY_COLUMNS = (api_keys.c.id, api_keys.c.prefix, api_keys.c.label, api_keys.c.tier, api_keys.c.user_id,
                users.c.name.label("user_name"), users.c.role, api_keys.c.created_at, api_keys.c.revoked_at)
_JOINED = api_keys.join(users, users.c.id == api_keys.c.user_id)


def create_key(conn: Connection, user_id: int, key_hash: str, prefix: str, label: str, tier: str) -> int:
    """Store a new key's hash for user ``user_id``; returns its id. Raises ``ValueError`` for an unknown tier."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
    values = {"user_id": user_id, "key_hash": key_hash, "prefix": prefix, "label": label, "tier": tier}
    return int(conn.execute(insert(api_keys).values(**values).returning(api_keys.c.id)).scalar_one())


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    """The key whose hash is ``key_hash`` (revoked ones included: check ``valid``), or None."""
    row = conn.execute(select(*_KEY_COLUMNS).select_from(_JOINED).where(api_keys.c.key_hash == key_hash)).one_or_none()
    return None if row is None else ApiKey(**row._mapping)


def revoke_key(conn: Connection, key_id: int, when: datetime) -> bool:
    """Mark key ``key_id`` revoked at ``when``; False when it does not exist or was revoked already."""
    stmt = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=when)
    return conn.execute(stmt).rowcount == 1


def list_keys(conn: Connection, today: date) -> pd.DataFrame:
    """Every key, newest first, with its usage: columns ``id``, ``prefix``, ``label``, ``tier``, ``user_name``,
    ``created_at``, ``revoked_at`` (UTC), ``today`` and ``limited_today`` (requests answered / refused on UTC day
    ``today``), ``total`` (answered, all days)."""
    usage = api_key_usage.c
    today_q = select(usage.requests).where(usage.key_id == api_keys.c.id, usage.day == today).scalar_subquery()
    limited_q = select(usage.limited).where(usage.key_id == api_keys.c.id, usage.day == today).scalar_subquery()
    total_q = select(func.sum(usage.requests)).where(usage.key_id == api_keys.c.id).scalar_subquery()
    stmt = (select(api_keys.c.id, api_keys.c.prefix, api_keys.c.label, api_keys.c.tier,
                   users.c.name.label("user_name"), api_keys.c.created_at, api_keys.c.revoked_at,
                   func.coalesce(today_q, 0).label("today"), func.coalesce(limited_q, 0).label("limited_today"),
                   func.coalesce(total_q, 0).label("total"))
            .select_from(_JOINED).order_by(api_keys.c.id.desc()))  # fmt: skip
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(map(str, result.keys())))


def add_usage(conn: Connection, counts: Mapping[tuple[int, date], tuple[int, int]]) -> None:
    """Add ``(answered, refused)`` request counts per ``(key_id, UTC day)`` (additive upsert: several workers and
    hosts may add to the same row). Counts of keys deleted meanwhile are dropped."""
    if not counts:
        return
    live = set(conn.execute(select(api_keys.c.id).where(api_keys.c.id.in_({k for k, _ in counts}))).scalars())
    rows = [{"key_id": k, "day": d, "requests": a, "limited": r} for (k, d), (a, r) in counts.items() if k in live]
    if not rows:
        return
    stmt = pg_insert(api_key_usage).values(rows)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[api_key_usage.c.key_id, api_key_usage.c.day],
        set_={"requests": api_key_usage.c.requests + stmt.excluded.requests,
              "limited": api_key_usage.c.limited + stmt.excluded.limited},
    ))  # fmt: skip


def usage_by_day(conn: Connection, since: date) -> pd.DataFrame:
    """Usage rows from UTC day ``since`` on: columns ``day``, ``key_id``, ``prefix``, ``label``, ``requests``,
    ``limited``; by day then key."""
    stmt = (select(api_key_usage.c.day, api_key_usage.c.key_id, api_keys.c.prefix, api_keys.c.label,
                   api_key_usage.c.requests, api_key_usage.c.limited)
            .select_from(api_key_usage.join(api_keys, api_keys.c.id == api_key_usage.c.key_id))
            .where(api_key_usage.c.day >= since).order_by(api_key_usage.c.day, api_key_usage.c.key_id))  # fmt: skip
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(map(str, result.keys())))
