"""Sign-in, roles and API keys of the web app (README, "Sign-in and API keys").

``init_auth(server, settings)`` (called by ``create_app``) resolves the policy (:mod:`settings.auth`: refuses to
start without a secret or users where sign-in is required), sets up Flask-Login sessions
(:mod:`app.auth.users`), hardening (:mod:`app.security`: cookies, CSRF, headers), the sign-in pages
(:mod:`app.auth.views`) and the gate every request passes (:mod:`app.auth.identity`). Pages and callbacks read the
requester with :func:`current_identity` and check roles with :func:`require_role`.
"""

from __future__ import annotations

import flask

from app.auth.identity import Identity, current_identity, gate, require_role
from app.auth.users import accounts_connection, init_login
from app.auth.views import create_blueprint
from app.security import init_security
from db import accounts
from settings import Settings
from settings.auth import AuthPolicy, StartupError, is_loopback, resolve_policy, sign_in_required

__all__ = [
    "AuthPolicy", "Identity", "StartupError", "accounts_connection", "current_identity", "init_auth", "is_loopback",
    "require_role", "sign_in_required",
]  # fmt: skip

#: Key of the app's :class:`AuthPolicy` in ``Flask.extensions``.
POLICY_KEY = "alphapulse_auth"


def init_auth(server: flask.Flask, settings: Settings) -> AuthPolicy:
    """Everything of the module docstring on ``server``; returns the policy. Raises :class:`StartupError` (clear
    message) when the app must not start. Call before the rate limiter is set up (the gate must run first)."""

    def count_users() -> int:
        with server.app_context(), accounts_connection() as conn:
            return accounts.count_users(conn)

    policy = resolve_policy(settings, count_users)
    server.extensions[POLICY_KEY] = policy
    csrf = init_security(server, settings, policy)
    init_login(server)
    server.register_blueprint(create_blueprint())
    server.before_request(lambda: gate(policy.required, csrf.protect))
    return policy
