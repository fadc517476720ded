"""Parsing of the environment variables of :class:`settings.Settings`: field declaration, value checks, errors."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path

#: ``synchronous_commit`` values PostgreSQL accepts.
SYNCHRONOUS_COMMIT_VALUES = ("on", "off", "local", "remote_write", "remote_apply")
#: ``ALPHAPULSE_FUNDING_UNIVERSE`` values: every active linear perpetual of a venue, or the configured symbols.
FUNDING_UNIVERSES = ("all", "symbols")
#: Text settings that take one of a few values.
CHOICES = {
    "ALPHAPULSE_PG_SYNCHRONOUS_COMMIT": SYNCHRONOUS_COMMIT_VALUES,
    "ALPHAPULSE_FUNDING_UNIVERSE": FUNDING_UNIVERSES,
}



class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


def env_field(env: str, default, doc: str, minimum: float | None = None):
    """A setting read from ``env``; numbers must be > 0 unless ``minimum`` allows more (e.g. 0)."""
    return field(default=default, metadata={"env": env, "doc": doc, "minimum": minimum})


def parse_value(raw: str, default, env: str, minimum: float | None = None):
    """``raw`` (stripped, non-empty) as the type of ``default``: a bool (1/0, true/false, yes/no), a tuple (comma
    list, non-empty), a resolved ``Path``, a number (> 0, or >= ``minimum``), else text (one of :data:`CHOICES` for
    ``env`` when listed). Raises :class:`SettingsError` naming ``env``."""
    try:
        if isinstance(default, bool):
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if isinstance(default, tuple):
            items = tuple(p.strip() for p in raw.split(",") if p.strip())
            if not items:
                raise ValueError("empty list")
            return items
        if isinstance(default, Path):
            return Path(raw).expanduser().resolve()
        if isinstance(default, (int, float)):
            value = type(default)(raw)
            if (value <= 0) if minimum is None else (value < minimum):
                raise ValueError("must be positive" if minimum is None else f"must be >= {minimum}")
            return value
        if raw not in CHOICES.get(env, (raw,)):
            raise ValueError(f"not one of {', '.join(CHOICES[env])}")
        return raw
    except ValueError as exc:
        raise SettingsError(f"{env}={raw!r} is invalid: {exc}") from exc
