"""Flask-Login's side of users: the session user, its loader, and the connection to the accounts tables.

The session cookie (Flask's signed cookie: no server-side state, so any worker or host can check it) holds
Flask-Login's user id :meth:`SessionUser.get_id`: ``<id>:<digest of the password hash>``, so changing a password
signs out every other session of that user. Each request reads the user row again (role changes apply at once;
a deleted user is signed out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import flask
from flask_login import LoginManager, UserMixin
from sqlalchemy import Connection

from db import accounts
from db.engine import get_engine

#: Key of the app's :class:`~settings.Settings` in ``Flask.config`` (as ``app.api.SETTINGS_KEY``).
SETTINGS_KEY = "ALPHAPULSE_SETTINGS"


@contextmanager
def accounts_connection() -> Iterator[Connection]:
    """A connection to the primary database (``DATABASE_URL``, never the read replica: a revoked key or a
    changed password must count at once) in a transaction committed on success."""
    settings = flask.current_app.config[SETTINGS_KEY]
    with get_engine(settings.database_url_for("app")).begin() as conn:
        yield conn


class SessionUser(UserMixin):
    """A signed-in user as Flask-Login sees it (``id``, ``name``, ``role``)."""

    def __init__(self, user: accounts.User) -> None:
        self.id = user.id
        self.name = user.name
        self.role = user.role
        self._token = session_token(user)

    def get_id(self) -> str:
        return f"{self.id}:{self._token}"


def session_token(user: accounts.User) -> str:
    """A digest of the user's password hash (changes with the password)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def load_user(user_id: str) -> SessionUser | None:
    """Flask-Login's user loader: the user of a session id ``<id>:<token>``, or None (unknown user, changed
    password, malformed id)."""
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit():
        return None
    with accounts_connection() as conn:
        user = accounts.get_user(conn, int(raw_id))
    if user is None or session_token(user) != token:
        return None
    return SessionUser(user)


def init_login(server: flask.Flask) -> LoginManager:
    """Flask-Login on ``server`` with :func:`load_user`; unauthenticated requests are handled by the gate
    (:mod:`app.auth.identity`), so no login view is set here."""
    manager = LoginManager(server)
    manager.user_loader(load_user)
    manager.session_protection = None  # "basic" rewrote the session cookie on every request, API calls included
    return manager
