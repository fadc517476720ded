"""Alert notification channels from settings (``ALPHAPULSE_ALERT_CHANNELS``, ``ALPHAPULSE_ALERT_DEFAULT_CHANNELS``).

Channel URLs are secrets (webhook tokens): they live in the environment only; the database, logs and responses
name channels, never their URLs.
"""

from __future__ import annotations

import re

from settings import Settings, SettingsError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def alert_channels(settings: Settings) -> dict[str, str]:
    """``{name: apprise URL}`` parsed from ``name=url;name2=url2`` (empty setting: ``{}``).

    Raises :class:`SettingsError` naming ``ALPHAPULSE_ALERT_CHANNELS`` (never the URL) for an entry without ``=``,
    a name that is not 1-40 letters, digits, ``_`` or ``-``, a duplicate name or an empty URL."""
    channels: dict[str, str] = {}
    for number, entry in enumerate(p for p in settings.alert_channels.split(";") if p.strip()):
        name, sep, url = (part.strip() for part in entry.partition("="))
        if not sep or not _NAME.match(name) or not url or name in channels:
            raise SettingsError(f"ALPHAPULSE_ALERT_CHANNELS entry {number + 1} is invalid: expected a unique "
                                f"name=apprise-url, name of letters, digits, _ or -")
        channels[name] = url
    return channels


def default_channels(settings: Settings) -> tuple[str, ...]:
    """Names a rule without its own channels notifies: ``ALPHAPULSE_ALERT_DEFAULT_CHANNELS``, else every configured
    channel. Raises :class:`SettingsError` for a default name that is not configured."""
    configured = alert_channels(settings)
    if not settings.alert_default_channels:
        return tuple(configured)
    unknown = [n for n in settings.alert_default_channels if n not in configured]
    if unknown:
        raise SettingsError(f"ALPHAPULSE_ALERT_DEFAULT_CHANNELS names unconfigured channels: {', '.join(unknown)}")
    return settings.alert_default_channels
