"""Users: who may sign in, with which role (``users`` table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from db.accounts.schema import ROLES, users


class UserExistsError(ValueError):
    """A user of that name exists already."""


@dataclass(frozen=True)
class User:
    """A row of ``users``: ``name`` lower case, ``role`` one of :data:`~db.accounts.schema.ROLES`,
    ``password_hash`` werkzeug's salted hash (never the password)."""

    id: int
    name: str
    role: str
    password_hash: str
    created_at: datetime
    last_signin_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(row) -> User | None:
    return None if row is None else User(**row._mapping)


def add_user(conn: Connection, name: str, password_hash: str, role: str) -> User:
    """Insert a user; ``name`` is stored lower case. Raises :class:`UserExistsError` when the name is taken and
    ``ValueError`` for an unknown role or a name outside ``[a-z0-9][a-z0-9._@-]{0,63}``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    try:
        with conn.begin_nested():
            row = conn.execute(insert(users).values(name=name.lower(), password_hash=password_hash, role=role)
                               .returning(*users.c)).one()  # fmt: skip
    except IntegrityError as exc:
        if "uq_users_name" in str(exc.orig):
            raise UserExistsError(f"user {name.lower()!r} exists already") from exc
        raise ValueError(f"user name {name!r} is not allowed: lower-case letters, digits and ._@- "
                         "(at most 64 characters)") from exc  # fmt: skip
    return _user(row)


def get_user(conn: Connection, user_id: int) -> User | None:
    """The user with ``id`` ``user_id``, or None."""
    return _user(conn.execute(select(users).where(users.c.id == user_id)).one_or_none())


def find_user(conn: Connection, name: str) -> User | None:
    """The user named ``name`` (case-insensitive), or None."""
    return _user(conn.execute(select(users).where(users.c.name == name.strip().lower())).one_or_none())


def list_users(conn: Connection) -> list[User]:
    """Every user, by name."""
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


def count_users(conn: Connection) -> int:
    """How many users exist (0: nobody can sign in yet)."""
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def set_password(conn: Connection, name: str, password_hash: str) -> bool:
    """Replace a user's password hash; False when no such user."""
    result = conn.execute(update(users).where(users.c.name == name.lower()).values(password_hash=password_hash))
    return result.rowcount == 1


def delete_user(conn: Connection, name: str) -> bool:
    """Delete a user and (cascade) their API keys and usage; False when no such user."""
    return conn.execute(delete(users).where(users.c.name == name.lower())).rowcount == 1


def record_signin(conn: Connection, user_id: int, when: datetime) -> None:
    """Set ``last_signin_at`` of the user to ``when`` (aware UTC)."""
    conn.execute(update(users).where(users.c.id == user_id).values(last_signin_at=when))
