"""The page theme (issue 11, item 19): light or dark, following the system setting until the user switches.

A button in the navigation bar (:func:`theme_toggle`) flips it; the choice is kept in the ``ap_theme`` cookie
(a year, ``SameSite=Lax``; only the words ``light``/``dark``), so it survives reloads and applies to every page.
Without the cookie the system's ``prefers-color-scheme`` decides. The clientside callback of
:func:`register_theme_callback` sets Bootstrap's ``data-bs-theme`` on ``<html>`` (Bootstrap 5.3 colour modes) and
AG Grid's ``data-ag-theme-mode`` on ``<body>`` (AG Grid's built-in colour schemes), and writes the theme to the
``ap-theme`` store, which the pages' draw callbacks read to theme their charts (``app.figures.theme.themed``).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, clientside_callback, dcc

from app import inputs
from app.figures.theme import THEMES, themed

#: Component ids: the navigation bar's button and the store the draw callbacks read.
TOGGLE_ID, STORE_ID = "theme-toggle", "ap-theme"


def theme_toggle() -> dbc.Button:
    """The navigation bar's light/dark switch (its label names the theme it switches to)."""
    return dbc.Button("Dark", id=TOGGLE_ID, size="sm", color="secondary", outline=True, className="ap-theme-toggle",
                      title="Switch between the light and the dark theme")  # fmt: skip


def theme_store() -> dcc.Store:
    """The store holding the page's theme (:data:`~app.figures.theme.THEMES`), set in the browser."""
    return dcc.Store(id=STORE_ID, storage_type="memory")


def page_theme(value) -> str:
    """The theme a draw callback was sent (``ap-theme`` store), ``light`` when absent. Raises
    :class:`~app.inputs.InputError` for any other value (a malformed callback body)."""
    return inputs.choice(value, "theme", THEMES, "light")


def register_theme_callback() -> None:
    """Register the clientside theme callback for the Dash app being built (``app.dashboard.build_dash``)."""
    clientside_callback(
        """function (clicks) {
            const saved = (document.cookie.match(/(?:^|; )ap_theme=(light|dark)/) || [])[1];
            const system = window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
            let theme = saved || system;
            if (clicks) {
                theme = document.documentElement.getAttribute('data-bs-theme') === 'dark' ? 'light' : 'dark';
                document.cookie = 'ap_theme=' + theme + '; path=/; max-age=31536000; SameSite=Lax';
            }
            document.documentElement.setAttribute('data-bs-theme', theme);
            document.body.setAttribute('data-ag-theme-mode', theme);
            return [theme, theme === 'dark' ? 'Light' : 'Dark'];
        }""",
        Output(STORE_ID, "data"),
        Output(TOGGLE_ID, "children"),
        Input(TOGGLE_ID, "n_clicks"),
    )


def themed_outputs(out: dict, theme, keys: tuple[str, ...]) -> dict:
    """A draw callback's outputs ``out`` with the figures under ``keys`` (a figure or a list/tuple of them) themed
    for ``theme`` (the ``ap-theme`` store, validated by :func:`page_theme`); ``no_update`` passes unchanged."""
    chosen = page_theme(theme)

    def one(value):
        if isinstance(value, (list, tuple)):
            return [one(v) for v in value]
        return themed(value, chosen) if isinstance(value, dict) else value

    return {k: (one(v) if k in keys else v) for k, v in out.items()}
