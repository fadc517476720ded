"""The sign-in page (``GET``/``POST /login``) and sign-out (``POST /logout``), a Flask blueprint.

Sign-in checks the password (:mod:`app.auth.hashing`) and starts a Flask-Login session lasting
``ALPHAPULSE_SESSION_HOURS``; the form carries a CSRF token (Flask-WTF). Failed sign-ins are limited per user name
and per client address (``ALPHAPULSE_SIGNIN_FAILURE_LIMIT``, :func:`app.limits.signin_blocked`): beyond the limit
the page answers 429 with ``Retry-After`` and does not check the password at all. Answers: 302 to ``next`` (a
local path only) on success, 401 with the form on a wrong name or password, 400 on a missing or bad CSRF token.
Sign-out (POST, CSRF-checked like every state-changing request) ends the session and returns to the sign-in page.
"""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import UTC, datetime

import flask
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app import limits
from app.auth.hashing import hash_password, password_matches
from app.auth.users import SessionUser, accounts_connection
from db import accounts

log = logging.getLogger(__name__)


@functools.cache
def _dummy_hash() -> str:
    """A scrypt hash checked when the user name is unknown, so an unknown name costs the same time as a wrong
    password (names cannot be told apart by timing); made once per process, on first use."""
    return hash_password(secrets.token_urlsafe(16))


class SignInForm(FlaskForm):
    """User name and password (CSRF token added by Flask-WTF)."""

    name = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    """``target`` when it is a local path (``/…`` but not ``//…``), else ``/``: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _page(form: SignInForm, status: int = 200, message: str | None = None, **headers) -> flask.Response:
    next_url = flask.request.args.get("next")
    body = flask.render_template("signin.html", form=form, message=message, status=status, next_url=next_url)
    return flask.Response(body, status, headers=headers, mimetype="text/html")


def signin():
    """``/login``: the form (GET) or a sign-in attempt (POST), see the module docstring."""
    form = SignInForm()
    if flask.request.method == "GET":
        return _page(form)
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            return _page(form, 400, "The form expired or was not sent by this page: please try again.")
        return _page(form, 401, "Enter your user name and password.")
    name, address = form.name.data.strip().lower(), flask.request.remote_addr or "-"
    retry_after = limits.signin_blocked(name, address)
    if retry_after is not None:
        log.warning("sign-in refused: too many failures for %r or from %s", name, address)
        return _page(form, 429, f"Too many failed sign-ins: try again in {retry_after // 60 + 1} minutes.",
                     **{"Retry-After": str(retry_after)})  # fmt: skip
    with accounts_connection() as conn:
        user = accounts.find_user(conn, name)
        if not password_matches(user.password_hash if user else _dummy_hash(), form.password.data) or user is None:
            limits.signin_failed(name, address)
            log.warning("sign-in failed for %r from %s", name, address)
            return _page(form, 401, "Wrong user name or password.")
        accounts.record_signin(conn, user.id, datetime.now(UTC))
    flask.session.permanent = True
    login_user(SessionUser(user))
    log.info("signed in: %s (%s) from %s", user.name, user.role, address)
    return flask.redirect(_safe_next(flask.request.args.get("next")))


def signout():
    """``POST /logout``: end the session, back to the sign-in page."""
    logout_user()
    flask.session.clear()
    return flask.redirect("/login")


def create_blueprint() -> flask.Blueprint:
    """A new blueprint with ``/login`` (GET, POST) and ``/logout`` (POST)."""
    bp = flask.Blueprint("auth", __name__, template_folder="templates")
    bp.add_url_rule("/login", "signin", signin, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "signout", signout, methods=["POST"])
    return bp
