"""Chart themes (issue 11, item 19): the figures the builders make are light; :func:`themed` turns one dark.

The page theme (light or dark, :mod:`app.theme`) reaches the draw callbacks, which pass each figure through
:func:`themed` after building it, so the builders and their tests stay theme-free. Dark means plotly's own
``plotly_dark`` template (axes, grid, font, legend, hover) on the page's dark background (Bootstrap 5.3's
``--bs-body-bg`` in dark mode, ``#212529``), and every series recoloured for that background: a trace whose
``meta`` names its exchange and symbol takes :func:`~app.figures.colours.series_colour` on it (same hue and
shade order, lightness chosen for 3:1 contrast).
"""

from __future__ import annotations

import json
from importlib import resources

from app.figures.colours import series_colour

#: Theme names, as the page stores them.
THEMES = ("light", "dark")
#: Background of dark charts: Bootstrap 5.3's dark ``--bs-body-bg``, so a chart sits on the page without a frame.
DARK_BACKGROUND = "#212529"
#: plotly's dark template as plain JSON (package data; shared, never mutated).
DARK_TEMPLATE = json.loads(resources.files("plotly").joinpath("package_data/templates/plotly_dark.json").read_text())


def themed(figure: dict, theme: str) -> dict:
    """``figure`` (a figure dict of :mod:`app.figures`) for ``theme`` (:data:`THEMES`): itself when light, else a
    copy with the dark template and background and its series recoloured (traces with ``meta.exchange`` and
    ``meta.symbol``; others, e.g. anomaly markers on their |z| colour scale, keep their colours). Raises
    ``ValueError`` for an unknown theme."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; known: {', '.join(THEMES)}")
    if theme == "light" or not isinstance(figure, dict):
        return figure
    layout = {**figure.get("layout", {}), "template": DARK_TEMPLATE,
              "paper_bgcolor": DARK_BACKGROUND, "plot_bgcolor": DARK_BACKGROUND}  # fmt: skip
    return {**figure, "layout": layout, "data": [_recoloured(t) for t in figure.get("data", [])]}


def _recoloured(trace: dict) -> dict:
    meta = trace.get("meta")
    if not (isinstance(meta, dict) and meta.get("exchange") and meta.get("symbol")):
        return trace
    colour = series_colour(meta["exchange"], meta["symbol"], background=DARK_BACKGROUND)
    out = dict(trace)
    for part in ("line", "marker"):
        if isinstance(trace.get(part), dict) and "color" in trace[part]:
            out[part] = {**trace[part], "color": colour}
    return out
