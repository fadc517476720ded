"""When sign-in is required, and what the web app needs before it may start (``ALPHAPULSE_AUTH``, secret, users).

Here rather than in ``app``: gunicorn's master checks the same rules before binding a socket
(``gunicorn.conf.py``, ``on_starting``) without importing the app (Dash, pandas) into the master.

Rules (README, "Sign-in and API keys"):

* ``ALPHAPULSE_AUTH=auto`` (default): sign-in is required unless ``ALPHAPULSE_HOST`` is a loopback address
  (``127.0.0.0/8``, ``::1``, ``localhost``); ``required``: always; ``off``: never, and refused on any other
  address (:class:`StartupError`): nothing is reachable beyond loopback without sign-in.
* Sign-in required: ``ALPHAPULSE_SECRET_KEY`` must hold at least :data:`MIN_SECRET_LENGTH` characters and at least
  one user must exist, else the app refuses to start with a message saying what to do.
* Sign-in off: without ``ALPHAPULSE_SECRET_KEY`` a random key is created once in ``<var>/secret_key`` (mode 600)
  and shared by every worker of the host (sessions and CSRF tokens are signed with it).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from settings import Settings

log = logging.getLogger(__name__)

AUTH_MODES = ("auto", "required", "off")
SECURE_COOKIE_MODES = ("auto", "true", "false")
MIN_SECRET_LENGTH = 32
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class StartupError(RuntimeError):
    """The app must not start with this configuration; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``); False for anything else,
    including the wildcard addresses ``0.0.0.0`` and ``::`` and other host names."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthPolicy:
    """The resolved rules of one app: ``required`` (sign-in), ``secure_cookies`` (cookie ``Secure`` flag) and the
    ``secret_key`` that signs sessions and CSRF tokens."""

    required: bool
    secure_cookies: bool
    secret_key: str


def sign_in_required(settings: Settings, hosts: tuple[str, ...] | None = None) -> bool:
    """Whether sign-in is required for ``settings`` served on ``hosts`` (default: ``ALPHAPULSE_HOST``).
    Raises :class:`StartupError` for an unknown ``ALPHAPULSE_AUTH`` or ``off`` on a non-loopback address."""
    hosts = hosts or (settings.dashboard_host,)
    mode = settings.auth_mode.lower()
    if mode not in AUTH_MODES:
        raise StartupError(f"ALPHAPULSE_AUTH={settings.auth_mode!r} is invalid: use one of {', '.join(AUTH_MODES)}")
    exposed = [h for h in hosts if not is_loopback(h)]
    if mode == "off" and exposed:
        raise StartupError(f"ALPHAPULSE_AUTH=off is allowed only on a loopback address, not {exposed[0]!r}: "
                           "sign-in is required for anything reachable beyond this machine")  # fmt: skip
    return mode == "required" or (mode == "auto" and bool(exposed))


def resolve_policy(settings: Settings, count_users: Callable[[], int] | None = None) -> AuthPolicy:
    """The :class:`AuthPolicy` of ``settings``; ``count_users`` (a database count, see ``db.accounts``) is called
    when sign-in is required. Raises :class:`StartupError` when sign-in is required and the secret is missing or
    short, or no user exists; a database that cannot be reached is logged and not checked (the app starts and
    pages say the database is unreachable)."""
    required = sign_in_required(settings)
    if required:
        if len(settings.secret_key) < MIN_SECRET_LENGTH:
            raise StartupError(f"sign-in is required (ALPHAPULSE_HOST={settings.dashboard_host}, "
                               f"ALPHAPULSE_AUTH={settings.auth_mode}) and ALPHAPULSE_SECRET_KEY is "
                               f"{'too short' if settings.secret_key else 'not set'}: set it to at least "
                               f"{MIN_SECRET_LENGTH} random characters, e.g. {SECRET_HINT}")  # fmt: skip
        _require_users(count_users)
    cookies = settings.secure_cookies.lower()
    if cookies not in SECURE_COOKIE_MODES:
        raise StartupError(f"ALPHAPULSE_SECURE_COOKIES={settings.secure_cookies!r} is invalid: use one of "
                           f"{', '.join(SECURE_COOKIE_MODES)}")  # fmt: skip
    secure = required if cookies == "auto" else cookies == "true"
    return AuthPolicy(required, secure, settings.secret_key or local_secret(settings.var_dir))


def _require_users(count_users: Callable[[], int] | None) -> None:
    if count_users is None:
        return
    try:
        users = count_users()
    except Exception as exc:  # noqa: BLE001 - any database failure: start anyway, say so
        log.warning("could not check that users exist (database unreachable?): %s", exc)
        return
    if users == 0:
        raise StartupError("sign-in is required and no user exists: add one with "
                           "`python -m app.users add NAME --admin` (it asks for the password)")  # fmt: skip


def local_secret(var_dir: Path) -> str:
    """The random secret kept in ``var_dir/secret_key`` (created once, mode 600, atomically: workers starting
    together all read the same one)."""
    path = var_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)  # fails if another worker was first: then theirs is used
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
