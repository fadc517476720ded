"""Password hashes and API keys: how secrets are made, hashed and checked (nothing is stored in clear).

* Passwords: werkzeug's ``generate_password_hash`` with scrypt (salted, memory-hard; werkzeug's default) and
  ``check_password_hash`` (constant-time comparison).
* API keys: ``ap_`` + 43 URL-safe characters of :func:`secrets.token_urlsafe` (256 random bits), shown once. Stored
  as the hex SHA-256 of the whole key: a key has full entropy, so a slow password hash adds nothing but the cost
  of one per API request, and SHA-256 lets the key be found by its hash. The first :data:`PREFIX_LENGTH`
  characters are kept to tell keys apart on the Admin page.
"""

from __future__ import annotations

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

KEY_PREFIX = "ap_"
PREFIX_LENGTH = 10
#: Shortest password accepted (NIST SP 800-63B asks for at least 8; a desk's shared dashboard deserves more).
MIN_PASSWORD_LENGTH = 10


class WeakPasswordError(ValueError):
    """The password is too short."""


def hash_password(password: str) -> str:
    """werkzeug's scrypt hash of ``password``. Raises :class:`WeakPasswordError` below
    :data:`MIN_PASSWORD_LENGTH` characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method="scrypt")


def password_matches(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (constant-time)."""
    return check_password_hash(password_hash, password)


def new_api_key() -> tuple[str, str, str]:
    """``(key, key_hash, prefix)`` of a fresh key: the key to show once, what to store, what to display."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key_hash(key), key[:PREFIX_LENGTH]


def key_hash(key: str) -> str:
    """Hex SHA-256 of ``key`` (what ``api_keys.key_hash`` holds)."""
    return hashlib.sha256(key.encode()).hexdigest()
