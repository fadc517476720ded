"""Hardening of every response: client address behind proxies, cookies, CSRF, security headers, JSON 404s.

* **Proxies**: with ``ALPHAPULSE_TRUSTED_PROXIES=n > 0`` werkzeug's ``ProxyFix`` takes the client address, scheme
  and host from the ``X-Forwarded-For/-Proto/-Host`` values the last ``n`` proxies appended; with 0 (default)
  those headers are ignored and the client is the socket's peer (a client cannot pick its rate-limit address).
* **Cookies**: the Flask session cookie (``alphapulse_session``; Flask-Login's user id and the CSRF secret) is
  signed with the secret of ``settings.auth``, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` per
  ``ALPHAPULSE_SECURE_COOKIES``, and lasts ``ALPHAPULSE_SESSION_HOURS``.
* **CSRF** (Flask-WTF ``CSRFProtect``, checked by the auth gate on every state-changing request that is not
  authenticated by an API key, loopback included): forms carry the token in a hidden ``csrf_token`` field; every
  HTML page sets the cookie :data:`CSRF_COOKIE` (readable by scripts, ``SameSite=Strict``), whose value Dash's
  renderer sends as ``X-CSRFToken`` with every callback (dash-renderer reads ``_csrf_token`` by default). A
  missing or wrong token gets 403 (JSON on JSON paths).
* **Headers** on every response (:func:`security_headers`): a content security policy that Dash works with
  (scripts only from this origin plus the hashes of Dash's inline scripts, ``Dash.csp_hashes``; inline styles
  allowed because Dash and plotly.js set element styles; no framing, no plugins), ``X-Content-Type-Options:
  nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy``, and
  ``Strict-Transport-Security`` on HTTPS requests.
* **Unknown ``/api/…`` paths** answer JSON 404 (the Dash pages' catch-all route would answer HTML 200).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import flask
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from app.auth.identity import refusal
from settings import Settings
from settings.auth import AuthPolicy

#: Cookie whose value dash-renderer sends as ``X-CSRFToken`` (its default ``csrf_token_name``).
CSRF_COOKIE = "_csrf_token"
SESSION_COOKIE = "alphapulse_session"
#: Key in ``Flask.extensions`` of the function giving the extra ``script-src`` sources of an HTML page (hashes of
#: Dash's inline scripts, ``Dash.csp_hashes``: asked per page, since Dash adds inline scripts until it serves).
SCRIPT_HASHES_KEY = "alphapulse_csp_script_hashes"
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HSTS = "max-age=31536000"


def content_security_policy(script_hashes: list[str]) -> str:
    """The ``Content-Security-Policy`` value with ``script_hashes`` (``'sha256-…'``) added to ``script-src``."""
    policy = {**CSP, "script-src": " ".join([CSP["script-src"], *dict.fromkeys(script_hashes)])}
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def security_headers(response: flask.Response) -> flask.Response:
    """After-request hook: the headers of the module docstring (and the CSRF cookie on HTML pages)."""
    html_page = response.mimetype == "text/html"
    hashes = flask.current_app.extensions.get(SCRIPT_HASHES_KEY, list) if html_page else list
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(list(hashes())))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if flask.request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if html_page and flask.request.method == "GET":
        response.set_cookie(CSRF_COOKIE, generate_csrf(), secure=flask.current_app.config["SESSION_COOKIE_SECURE"],
                            httponly=False, samesite="Strict")  # fmt: skip
    return response


def _csrf_refused(exc: CSRFError) -> flask.Response:
    return refusal(403, f"CSRF check failed ({exc.description}): reload the page and try again")


def _api_not_found(rest: str = ""):
    raise NotFound(f"no API endpoint {flask.request.path}: see the API table in README.md")


def init_security(server: flask.Flask, settings: Settings, policy: AuthPolicy) -> CSRFProtect:
    """Apply the module docstring's measures to ``server``; returns the CSRF extension (its ``protect()`` is
    called by the auth gate)."""
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    server.config.update(
        SECRET_KEY=policy.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=policy.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # the auth gate decides (API-key requests carry no cookie to forge)
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a dashboard stays open for days
    )
    csrf = CSRFProtect(server)
    server.register_error_handler(CSRFError, _csrf_refused)
    server.after_request(security_headers)
    for rule in ("/api", "/api/", "/api/<path:rest>"):
        server.add_url_rule(rule, "api_not_found", _api_not_found, methods=["GET", "HEAD"])
    return csrf


def allow_inline_scripts(server: flask.Flask, script_hashes: Callable[[], Iterable[str]]) -> None:
    """Add the hashes ``script_hashes()`` returns (e.g. ``Dash.csp_hashes``, asked per HTML page) to the policy's
    ``script-src``."""
    server.extensions[SCRIPT_HASHES_KEY] = script_hashes
