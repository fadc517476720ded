"""Who is asking: an API key, a signed-in user, or (sign-in off, loopback) the local user; and the gate.

:func:`gate` runs before every request (registered by :func:`app.auth.init_auth` before the rate limiter, so
limits know the identity). It stores an :class:`Identity` in ``flask.g`` or answers at once:

* open without sign-in: :data:`OPEN_PREFIXES` (the sign-in page, static assets) and :data:`OPEN_PATHS`
  (``/api/health`` for load balancers);
* an API key (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``) is accepted on ``/api`` and ``/metrics``
  only (403 JSON elsewhere); an unknown or revoked key is refused with 401 JSON, whatever the sign-in setting;
* else the signed-in user (Flask-Login session cookie), else the local user when sign-in is off;
* nobody: 401 JSON on JSON paths (``/api``, ``/metrics``, Dash's ``/_dash-…``), a redirect to the sign-in page
  on pages;
* state-changing methods (POST, PUT, PATCH, DELETE) without a key must carry a valid CSRF token
  (:mod:`app.security`; Dash sends the ``_csrf_token`` cookie's value as ``X-CSRFToken``);
* admin-only paths (:data:`ADMIN_PATHS`) need the ``admin`` role (403).

Pages and routes added later are protected by this without knowing it. Callbacks that change state check the
role themselves with :func:`require_role` (every Dash callback shares one endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import flask
from flask_login import current_user
from werkzeug.exceptions import Forbidden

from app.auth.hashing import key_hash
from app.auth.users import accounts_connection
from db import accounts

#: Path prefixes served to everybody (sign-in page, static files: CSS, JavaScript, vendored bundles).
OPEN_PREFIXES = ("/login", "/assets/")
#: Exact paths served to everybody.
OPEN_PATHS = frozenset({"/api/health", "/_favicon.ico"})
#: Paths answered in JSON (never redirected to the sign-in page).
JSON_PREFIXES = ("/api", "/metrics", "/_dash-")
#: Paths where API keys are accepted.
KEY_PREFIXES = ("/api/", "/metrics")
#: Pages only admins may open.
ADMIN_PATHS = ("/admin",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Identity:
    """The requester: ``kind`` ``key``, ``user`` or ``local`` (sign-in off); ``limit_key`` the rate-limit
    identity (``key:<id>``, ``user:<id>``, ``addr:<client address>``); ``role`` viewer/admin; ``tier`` of a key;
    ``user_id`` (None for the local user); ``key_id`` of a key; ``name`` to show."""

    kind: str
    limit_key: str
    role: str
    name: str
    user_id: int | None = None
    key_id: int | None = None
    tier: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def current_identity() -> Identity | None:
    """The :class:`Identity` of the current request (None on open paths without a session)."""
    return flask.g.get("identity")


def require_role(role: str = "admin") -> Identity:
    """The current identity when it has ``role`` (admins have every role); raises ``Forbidden`` (403) else."""
    ident = current_identity()
    if ident is None or not (ident.role == role or ident.is_admin):
        raise Forbidden(f"this needs the {role} role")
    return ident


def _json_error(status: int, message: str, **headers: str) -> flask.Response:
    response = flask.jsonify({"error": message, "status": status})
    response.status_code = status
    response.headers.update(headers)
    return response


def refusal(status: int, message: str, **headers: str) -> flask.Response:
    """A refusal of the current request: JSON ``{"error", "status"}`` on :data:`JSON_PREFIXES` paths, plain text
    on pages (401/403/429 of the gate, the limiter and the CSRF check)."""
    if flask.request.path.startswith(JSON_PREFIXES):
        return _json_error(status, message, **headers)
    return flask.Response(message, status, headers=headers, mimetype="text/plain")


def _presented_key(request: flask.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def _key_identity(key: str) -> Identity | flask.Response:
    if not flask.request.path.startswith(KEY_PREFIXES):
        return _json_error(403, "API keys are accepted on /api and /metrics only; sign in to use the dashboard")
    with accounts_connection() as conn:
        found = accounts.find_key(conn, key_hash(key))
    if found is None or not found.valid:
        return _json_error(401, "invalid or revoked API key", **{"WWW-Authenticate": 'Bearer realm="AlphaPulse"'})
    return Identity("key", f"key:{found.id}", found.role, found.label, found.user_id, found.id, found.tier)


def identify(required: bool) -> Identity | flask.Response | None:
    """The requester of the current request (module docstring), a refusal to send, or None (nobody)."""
    key = _presented_key(flask.request)
    if key is not None:
        return _key_identity(key)
    if current_user.is_authenticated:
        return Identity("user", f"user:{current_user.id}", current_user.role, current_user.name, current_user.id)
    if not required:
        return Identity("local", f"addr:{flask.request.remote_addr}", "admin", "local (sign-in off)")
    return None


def _unauthenticated() -> flask.Response:
    request = flask.request
    if request.path.startswith(JSON_PREFIXES):
        return _json_error(401, "sign in, or send an API key: Authorization: Bearer <key>",
                           **{"WWW-Authenticate": 'Bearer realm="AlphaPulse"'})  # fmt: skip
    target = request.full_path.rstrip("?")
    return flask.redirect(f"/login?next={quote(target, safe='/,:')}")


def gate(required: bool, protect_csrf) -> flask.Response | None:
    """The before-request check (module docstring); ``protect_csrf()`` raises on a missing or bad token."""
    path = flask.request.path
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    ident = identify(required)
    if isinstance(ident, flask.Response):
        return ident
    if ident is None:
        return _unauthenticated()
    flask.g.identity = ident
    routed = flask.request.routing_exception is None  # else 404/405 follows: nothing can change state
    if ident.kind != "key" and flask.request.method in UNSAFE_METHODS and routed:
        protect_csrf()
    if path.startswith(ADMIN_PATHS) and not ident.is_admin:
        return refusal(403, "the Admin page needs the admin role")
    return None
